package android.content;

/**
 * Stub of Android's Context, so that gobind's go.Seq compiles on a host JVM.
 * The host test never calls Seq.setContext, so nothing uses it.
 */
public abstract class Context {
}
