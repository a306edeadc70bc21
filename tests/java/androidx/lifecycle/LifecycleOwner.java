package androidx.lifecycle;

/** Stub of androidx.lifecycle's LifecycleOwner. */
public interface LifecycleOwner {
    Lifecycle getLifecycle();
}
