package android.util;

/** Stub of Android's Log (the methods docs/embedding.md's snippet calls). */
public final class Log {
    private Log() {}

    public static int d(String tag, String msg) { return print('D', tag, msg); }

    public static int i(String tag, String msg) { return print('I', tag, msg); }

    public static int w(String tag, String msg) { return print('W', tag, msg); }

    public static int e(String tag, String msg) { return print('E', tag, msg); }

    private static int print(char level, String tag, String msg) {
        System.err.println(level + "/" + tag + ": " + msg);
        return msg.length();
    }
}
