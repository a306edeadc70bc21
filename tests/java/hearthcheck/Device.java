package hearthcheck;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;

import hearth.Commands.Rpc;
import hearth.Events.Event;
import hearth.MobileConfig;
import hearth.Models.Model;
import mobile.Mobile;

/**
 * One device of the two-binding test (tests/mobile_sync_test.go): a Hearth
 * binding started with a node, driven line by line on stdin, as an app's UI
 * would drive it. It uses the message classes protoc generates from pb/*.proto
 * (protobuf-java; an app uses protobuf-javalite, the same API), a LogSink,
 * an event handler that keeps what the live subscription shows, and the
 * lifecycle calls.
 *
 * Usage: java -Djava.library.path=DIR hearthcheck.Device DATA_DIR NODE_ADDR NODE_KEY
 * Each command line answers one line: "ok[\tfield...]" or "err\tmessage".
 * Commands: create NAME | recover MNEMONIC... | space NAME | subscribe |
 * object SPACE TITLE | set SPACE OBJECT TITLE | get SPACE OBJECT |
 * await OBJECT TITLE (until the subscription shows it, 60 s) | synced SPACE |
 * network SPACE (online|offline) | networkchanged |
 * background | foreground | trim | logs | stop
 */
public final class Device {
    private static final long WAIT_MS = 60_000;

    /** What the live subscription shows: object id to its title. */
    private static final Map<String, String> shown = new ConcurrentHashMap<>();
    private static final AtomicInteger logLines = new AtomicInteger();
    private static final AtomicInteger infoLines = new AtomicInteger();

    public static void main(String[] args) throws Exception {
        String dataDir = args[0], node = args[1], key = args[2];
        Mobile.setEventHandler(Device::onEvent);
        MobileConfig config = MobileConfig.newBuilder()
                .setDataDir(dataDir)
                .addNodeAddrs(node)
                .setNodeKey(key)
                .setLogLevel(MobileConfig.LogLevel.INFO)
                .build();
        Mobile.startWithConfig(config.toByteArray(), (level, line) -> {
            logLines.incrementAndGet();
            if (level == Mobile.LogInfo) {
                infoLines.incrementAndGet();
            }
            System.err.println("hearth[" + level + "] " + line);
        });
        System.out.println("ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int code = 0;
        while ((line = in.readLine()) != null) {
            String[] w = words(line.trim());
            try {
                String answer = run(w);
                System.out.println(answer == null ? "ok" : "ok\t" + answer);
                if (w[0].equals("stop")) {
                    break;
                }
            } catch (Throwable t) {
                System.out.println("err\t" + String.valueOf(t).replace('\n', ' '));
            }
            System.out.flush();
        }
        System.out.flush();
        // Go's threads stay attached to the JVM: exit explicitly.
        System.exit(code);
    }

    private static String run(String[] w) throws Exception {
        switch (w[0]) {
            case "create": {
                Rpc.Account.Create.Response r = Rpc.Account.Create.Response.parseFrom(call("AccountCreate",
                        Rpc.Account.Create.Request.newBuilder().setName(w[1]).build()));
                check(r.getError());
                return r.getAccount().getId() + "\t" + r.getMnemonic();
            }
            case "recover": {
                String mnemonic = w[1];
                Rpc.Account.Recover.Response r = Rpc.Account.Recover.Response.parseFrom(call("AccountRecover",
                        Rpc.Account.Recover.Request.newBuilder().setMnemonic(mnemonic).build()));
                check(r.getError());
                return r.getAccount().getId() + "\t" + r.getAccount().getDeviceId() + "\t" + r.getAccount().getNode();
            }
            case "space": {
                Rpc.Space.Create.Response r = Rpc.Space.Create.Response.parseFrom(call("SpaceCreate",
                        Rpc.Space.Create.Request.newBuilder().setName(w[1]).build()));
                check(r.getError());
                return r.getSpaceId();
            }
            case "subscribe": {
                // Every loaded space, and those that load later (a recovered
                // device's spaces arrive as the account space syncs).
                Rpc.Object.Subscribe.Response r = Rpc.Object.Subscribe.Response.parseFrom(call("ObjectSubscribe",
                        Rpc.Object.Subscribe.Request.newBuilder().addKeys("title").build()));
                check(r.getError());
                for (Rpc.Object.SubscribedObject o : r.getObjectsList()) {
                    shown.put(o.getId(), title(o.getDetailsMap()));
                }
                return r.getSubId();
            }
            case "object": {
                Rpc.Object.Create.Response r = Rpc.Object.Create.Response.parseFrom(call("ObjectCreate",
                        Rpc.Object.Create.Request.newBuilder().setSpaceId(w[1]).setType("note")
                                .putDetails("title", text(w[2])).build()));
                check(r.getError());
                return r.getObjectId();
            }
            case "set": {
                Rpc.Object.Set.Response r = Rpc.Object.Set.Response.parseFrom(call("ObjectSet",
                        Rpc.Object.Set.Request.newBuilder().setSpaceId(w[1]).setObjectId(w[2])
                                .putDetails("title", text(w[3])).build()));
                check(r.getError());
                return null;
            }
            case "get": {
                Rpc.Object.Get.Response r = Rpc.Object.Get.Response.parseFrom(call("ObjectGet",
                        Rpc.Object.Get.Request.newBuilder().setSpaceId(w[1]).setObjectId(w[2]).build()));
                check(r.getError());
                return title(r.getObject().getDetailsMap());
            }
            case "await": {
                long deadline = System.currentTimeMillis() + WAIT_MS;
                synchronized (shown) {
                    while (!w[2].equals(shown.get(w[1]))) {
                        long left = deadline - System.currentTimeMillis();
                        if (left <= 0) {
                            throw new AssertionError("the subscription never showed " + w[1] + " as " + w[2] + ": " + shown);
                        }
                        shown.wait(left);
                    }
                }
                return null;
            }
            case "synced": {
                long deadline = System.currentTimeMillis() + WAIT_MS;
                while (true) {
                    Rpc.Space.Status.Response r = Rpc.Space.Status.Response.parseFrom(call("SpaceStatus",
                            Rpc.Space.Status.Request.newBuilder().setSpaceId(w[1]).build()));
                    if (r.getError().getCodeValue() == 0 && r.getStatus().getStatus().equals("synced")) {
                        return r.getStatus().getNetwork();
                    }
                    if (System.currentTimeMillis() > deadline) {
                        throw new AssertionError("space " + w[1] + " never synced: " + r);
                    }
                    TimeUnit.MILLISECONDS.sleep(50);
                }
            }
            case "network": {
                Rpc.Space.Status.Response r = Rpc.Space.Status.Response.parseFrom(call("SpaceStatus",
                        Rpc.Space.Status.Request.newBuilder().setSpaceId(w[1]).build()));
                check(r.getError());
                return r.getStatus().getNetwork();
            }
            case "background":
                Mobile.background();
                return null;
            case "foreground":
                Mobile.foreground();
                return null;
            case "networkchanged":
                Mobile.networkChanged();
                return null;
            case "trim":
                Mobile.memoryPressure();
                return null;
            case "logs":
                return logLines.get() + "\t" + infoLines.get();
            case "stop":
                Mobile.setEventHandler(null);
                Mobile.stop();
                return null;
            default:
                throw new IllegalArgumentException("unknown command " + w[0]);
        }
    }

    /** Splits a command line: the last argument of each command takes the rest of the line. */
    private static String[] words(String line) {
        String cmd = line.split(" ", 2)[0];
        int n;
        switch (cmd) {
            case "create": case "recover": case "space": case "synced": case "network":
                n = 2;
                break;
            case "object": case "get": case "await":
                n = 3;
                break;
            case "set":
                n = 4;
                break;
            default:
                n = 1;
        }
        return line.split(" ", n);
    }

    /** The event handler: keeps the subscription's titles (set and amend). */
    private static void onEvent(byte[] bytes) throws InvalidProtocolBufferException {
        Event ev = Event.parseFrom(bytes == null ? new byte[0] : bytes);
        for (Event.Message m : ev.getMessagesList()) {
            switch (m.getValueCase()) {
                case OBJECTDETAILSSET:
                    note(m.getObjectDetailsSet().getId(), m.getObjectDetailsSet().getDetailsMap());
                    break;
                case OBJECTDETAILSAMEND:
                    note(m.getObjectDetailsAmend().getId(), m.getObjectDetailsAmend().getDetailsMap());
                    break;
                default:
                    break;
            }
        }
    }

    private static void note(String id, Map<String, Model.Value> details) {
        if (details.containsKey("title")) {
            synchronized (shown) {
                shown.put(id, title(details));
                shown.notifyAll();
            }
        }
    }

    private static byte[] call(String method, MessageLite request) throws Exception {
        byte[] b = Mobile.command(method, request.toByteArray());
        return b == null ? new byte[0] : b; // gobind hands an empty response over as null
    }

    private static void check(Rpc.Error e) {
        if (e.getCodeValue() != 0) {
            throw new IllegalStateException(e.getCode() + ": " + e.getDescription());
        }
    }

    private static Model.Value text(String s) {
        return Model.Value.newBuilder().setString(s).build();
    }

    private static String title(Map<String, Model.Value> details) {
        Model.Value v = details.get("title");
        return v == null ? "" : v.getString();
    }
}
