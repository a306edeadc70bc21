package android.net;

/** Stub of Android's Network. */
public class Network {
}
