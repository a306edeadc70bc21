package hearthcheck;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import mobile.Mobile;

/**
 * Drives Hearth through the gobind-generated Java binding, as an Android app
 * would: start on a data dir, run commands synchronously and asynchronously,
 * receive events through the handler, create an account, a space and an
 * object, stop and start again.
 *
 * Usage: java -Djava.library.path=DIR_OF_libgojni.so hearthcheck.BindingCheck DATA_DIR
 * Prints "ok: ..." per step and, last, one line "RESULT {json}"; exits 0 on
 * success, 1 with the failure on stderr otherwise. Deadlines are generous.
 */
public final class BindingCheck {
    private static final long WAIT_SECONDS = 60;

    /** Every event the handler received, described, in order of arrival. */
    private static final LinkedBlockingQueue<String> events = new LinkedBlockingQueue<>();
    private static final List<String> seen = new ArrayList<>();
    // Space events (states, sync statuses) arrive beside the account events;
    // they are checked on their own, not in the account events' order.
    private static final LinkedBlockingQueue<String> spaceEvents = new LinkedBlockingQueue<>();

    public static void main(String[] args) {
        int code = 0;
        try {
            run(args[0]);
        } catch (Throwable t) {
            System.err.println("FAIL: " + t);
            t.printStackTrace();
            code = 1;
        }
        // Go's threads stay attached to the JVM: exit explicitly.
        System.out.flush();
        System.exit(code);
    }

    private static void run(String dataDir) throws Exception {
        // Before Start: calls fail clearly, nothing crashes.
        check(!Mobile.isStarted(), "not started before Start");
        try {
            Mobile.command("AppGetVersion", new byte[0]);
            throw new AssertionError("command before Start did not throw");
        } catch (Exception e) {
            check(String.valueOf(e.getMessage()).contains("not started"), "command before Start says so: " + e.getMessage());
        }
        step("calls before Start fail with 'not started'");

        // The handler is set before Start and applies to the middleware Start
        // opens. It throws on the first event, on purpose: a host exception is
        // logged by the facade and delivery goes on.
        AtomicBoolean thrown = new AtomicBoolean();
        Mobile.setEventHandler(event -> {
            for (String e : Api.describeEvent(event)) {
                (e.startsWith("space") || e.startsWith("syncStatus") ? spaceEvents : events).add(e);
            }
            if (thrown.compareAndSet(false, true)) {
                throw new RuntimeException("thrown on purpose by the test's event handler");
            }
        });

        Mobile.start(dataDir);
        check(Mobile.isStarted(), "started");
        try {
            Mobile.start(dataDir);
            throw new AssertionError("a second Start did not throw");
        } catch (Exception e) {
            check(String.valueOf(e.getMessage()).contains("already running"), "second Start refused: " + e.getMessage());
        }
        step("started on " + dataDir + " (a second Start is refused)");

        check(!Api.version().isEmpty(), "AppGetVersion answers a version");
        check(Api.errorCode(Mobile.command("NoSuchCommand", new byte[0])) == Api.UNKNOWN_COMMAND, "unknown command answers UNKNOWN_COMMAND");
        check(Api.errorCode(Mobile.command("AccountCreate", new byte[] {(byte) 0xff, (byte) 0xff})) == Api.BAD_INPUT, "bad bytes answer BAD_INPUT");
        step("AppGetVersion, unknown command, bad input");

        StringBuilder mnemonic = new StringBuilder();
        Api.Account alice = Api.accountCreate("Alice", mnemonic);
        check(!alice.id.isEmpty() && !alice.deviceId.isEmpty(), "account created with ids");
        check(mnemonic.toString().trim().split("\\s+").length >= 12, "mnemonic has 12+ words");
        expectEvent("accountShow:" + alice.id);
        step("AccountCreate Alice " + alice.id + ", accountShow event received");

        Api.Account shown = Api.accountShow();
        check(shown.id.equals(alice.id) && shown.name.equals("Alice"), "AccountShow is Alice");
        step("AccountShow");

        // CommandAsync: the callback runs on a Go thread; it throws after
        // handing over the response, on purpose, and nothing breaks.
        CompletableFuture<byte[]> stopped = new CompletableFuture<>();
        Mobile.commandAsync("AccountStop", Api.accountStopRequest(), response -> {
            stopped.complete(response);
            throw new RuntimeException("thrown on purpose by the test's async callback");
        });
        check(Api.errorCode(stopped.get(WAIT_SECONDS, TimeUnit.SECONDS)) == Api.NULL, "async AccountStop succeeded");
        expectEvent("accountStopped:" + alice.id);
        step("CommandAsync AccountStop, accountStopped event received");

        Api.Account bob = Api.accountCreate("Bob", new StringBuilder());
        expectEvent("accountShow:" + bob.id);
        List<String> ids = Api.accountList();
        check(ids.contains(alice.id) && ids.contains(bob.id), "AccountList has both: " + ids);
        Api.call("AccountStop", Wire.message());
        expectEvent("accountStopped:" + bob.id);
        check(Api.accountSelect(alice.id).id.equals(alice.id), "AccountSelect Alice");
        expectEvent("accountShow:" + alice.id);
        step("AccountCreate Bob, AccountList, AccountStop, AccountSelect Alice");

        List<String> want = List.of(
                "accountShow:" + alice.id, "accountStopped:" + alice.id,
                "accountShow:" + bob.id, "accountStopped:" + bob.id,
                "accountShow:" + alice.id);
        check(seen.equals(want), "events in command order: got " + seen + ", want " + want);
        step("events arrived in command order: " + seen);

        // A space and an object in it, read back. (The API has no space or
        // object events yet; when it does, expectEvent them here.)
        String space = Api.spaceCreate("Home");
        check(!space.isEmpty(), "SpaceCreate answers a space id");
        boolean stateSeen = false;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (!stateSeen && System.nanoTime() < deadline) {
            String e = spaceEvents.poll(1, TimeUnit.SECONDS);
            stateSeen = ("spaceState:" + space).equals(e);
        }
        check(stateSeen, "a spaceState event for the new space arrives through the handler");
        check("Home".equals(Api.spaceNames().get(space)), "SpaceList has Home: " + Api.spaceNames());
        String object = Api.objectCreate(space, "note", "Hello from Java", 3);
        Wire.Msg got = Api.objectGet(space, object);
        java.util.Map<String, Wire.Msg> details = got.entries(3);
        check(got.str(1).equals(object) && got.str(2).equals("note"), "ObjectGet answers the object");
        check(details.get("title").str(4).equals("Hello from Java") && details.get("n").dbl(3) == 3.0,
                "ObjectGet answers the details");
        step("SpaceCreate Home " + space + ", ObjectCreate " + object + ", ObjectGet");

        Mobile.stop();
        check(!Mobile.isStarted(), "stopped");
        Mobile.stop(); // idempotent
        try {
            Mobile.command("AccountShow", new byte[0]);
            throw new AssertionError("command after Stop did not throw");
        } catch (Exception e) {
            check(String.valueOf(e.getMessage()).contains("not started"), "command after Stop says so");
        }
        step("Stop (twice), calls after Stop fail with 'not started'");

        // Start again: the data dir was released, the last account is selected.
        Mobile.start(dataDir);
        check(Api.accountShow().id.equals(alice.id), "after restart the last account is selected");
        Mobile.setEventHandler(null);
        Mobile.stop();
        step("restart selects Alice again");

        check(events.isEmpty(), "no unexpected events: " + events);
        System.out.println("RESULT {\"alice\":\"" + alice.id + "\",\"bob\":\"" + bob.id + "\",\"events\":" + seen.size()
                + ",\"space\":\"" + space + "\",\"object\":\"" + object + "\"}");
    }

    private static void expectEvent(String want) throws InterruptedException {
        String got = events.poll(WAIT_SECONDS, TimeUnit.SECONDS);
        check(got != null, "an event arrives within " + WAIT_SECONDS + "s (want " + want + ")");
        seen.add(got);
        check(got.equals(want), "next event is " + want + ", got " + got);
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    private static void step(String what) {
        System.out.println("ok: " + what);
    }
}
