package androidx.lifecycle;

/** Stub of androidx.lifecycle's Lifecycle. */
public abstract class Lifecycle {
    public abstract void addObserver(LifecycleObserver observer);
}
