package androidx.lifecycle;

/** Stub of androidx.lifecycle's DefaultLifecycleObserver (default methods, as in the real one). */
public interface DefaultLifecycleObserver extends LifecycleObserver {
    default void onCreate(LifecycleOwner owner) {}

    default void onStart(LifecycleOwner owner) {}

    default void onResume(LifecycleOwner owner) {}

    default void onPause(LifecycleOwner owner) {}

    default void onStop(LifecycleOwner owner) {}

    default void onDestroy(LifecycleOwner owner) {}
}
