package android.net;

/** Stub of Android's ConnectivityManager (what docs/embedding.md's snippet uses). */
public class ConnectivityManager {
    public void registerDefaultNetworkCallback(NetworkCallback cb) {}

    public static class NetworkCallback {
        public void onAvailable(Network network) {}

        public void onLost(Network network) {}
    }
}
