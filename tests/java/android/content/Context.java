package android.content;

/**
 * Stub of Android's Context, so that gobind's go.Seq and the Kotlin snippet
 * of docs/embedding.md compile on a host JVM (the real signatures of what
 * they use). The host test never calls Seq.setContext, so nothing uses it.
 */
public abstract class Context {
    public abstract java.io.File getFilesDir();
}
