package androidx.lifecycle;

/** Stub of androidx.lifecycle's LifecycleObserver. */
public interface LifecycleObserver {
}
