package hearthcheck;

import mobile.Mobile;

/**
 * Typed calls over the generated binding (mobile.Mobile): each method encodes
 * one Rpc.*.Request, runs it through Mobile.command and decodes the response,
 * throwing when its Error is set. Field numbers are those of pb/*.proto.
 *
 * To add a command: one method that builds its request and reads its
 * response, as below.
 */
final class Api {
    private Api() {}

    /** Rpc.Error.Code values used here (pb/commands.proto). */
    static final long NULL = 0, BAD_INPUT = 2, UNKNOWN_COMMAND = 107;

    /** Model.Account: id=1, deviceId=2, name=3, node=4. */
    static final class Account {
        final String id, deviceId, name;

        Account(Wire.Msg m) {
            id = m.str(1);
            deviceId = m.str(2);
            name = m.str(3);
        }
    }

    /** The Error of a response (field 1 of every response). */
    static final class ApiError extends RuntimeException {
        final long code;

        ApiError(String method, long code, String description) {
            super(method + ": error " + code + ": " + description);
            this.code = code;
        }
    }

    /** Runs method and returns the response, or throws its Error. */
    static Wire.Msg call(String method, Wire.Builder req) throws Exception {
        Wire.Msg resp = Wire.Msg.parse(Mobile.command(method, req.build()));
        Wire.Msg err = resp.msg(1);
        if (err.varint(1) != NULL) {
            throw new ApiError(method, err.varint(1), err.str(2));
        }
        return resp;
    }

    /** The Error code of a response, for checks that expect a failure. */
    static long errorCode(byte[] response) {
        return Wire.Msg.parse(response).msg(1).varint(1);
    }

    static String version() throws Exception {
        return call("AppGetVersion", Wire.message()).str(2);
    }

    /** AccountCreate: returns the account; the mnemonic is field 3. */
    static Account accountCreate(String name, StringBuilder mnemonic) throws Exception {
        Wire.Msg resp = call("AccountCreate", Wire.message().str(1, name));
        mnemonic.append(resp.str(3));
        return new Account(resp.msg(2));
    }

    static Account accountShow() throws Exception {
        return new Account(call("AccountShow", Wire.message()).msg(2));
    }

    static Account accountSelect(String id) throws Exception {
        return new Account(call("AccountSelect", Wire.message().str(1, id)).msg(2));
    }

    static java.util.List<String> accountList() throws Exception {
        return call("AccountList", Wire.message()).strs(2);
    }

    /** SpaceCreate: name=1; answers spaceId=2. */
    static String spaceCreate(String name) throws Exception {
        return call("SpaceCreate", Wire.message().str(1, name)).str(2);
    }

    /** SpaceList: answers spaces=2 (Model.Space: spaceId=1, name=2). */
    static java.util.Map<String, String> spaceNames() throws Exception {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        for (Wire.Msg sp : call("SpaceList", Wire.message()).msgs(2)) {
            out.put(sp.str(1), sp.str(2));
        }
        return out;
    }

    /** Model.Value: number=3 (double), string=4. */
    static Wire.Builder stringValue(String v) {
        return Wire.message().str(4, v);
    }

    static Wire.Builder numberValue(double v) {
        return Wire.message().dbl(3, v);
    }

    /** ObjectCreate: spaceId=1, type=2, details=3 (map<string, Value>); answers objectId=2. */
    static String objectCreate(String spaceId, String type, String title, double n) throws Exception {
        return call("ObjectCreate", Wire.message().str(1, spaceId).str(2, type)
                .entry(3, "title", stringValue(title))
                .entry(3, "n", numberValue(n))).str(2);
    }

    /** ObjectGet: spaceId=1, objectId=2; answers object=2 (Model.Object: objectId=1, type=2, details=3). */
    static Wire.Msg objectGet(String spaceId, String objectId) throws Exception {
        return call("ObjectGet", Wire.message().str(1, spaceId).str(2, objectId)).msg(2);
    }

    static byte[] accountStopRequest() {
        return Wire.message().build();
    }

    /**
     * Describes one encoded hearth.Event as "kind:id" per message, e.g.
     * "accountShow:<accountId>". Event: messages=1, contextId=2; Message
     * oneof: accountShow=1 {account=1}, accountStopped=2 {accountId=1},
     * spaceState=3 {space=1 {spaceId=1}}, syncStatus=4 {spaceId=1}.
     * New event kinds get one more branch here.
     */
    static java.util.List<String> describeEvent(byte[] event) {
        java.util.List<String> out = new java.util.ArrayList<>();
        for (Wire.Msg m : Wire.Msg.parse(event).msgs(1)) {
            if (m.has(1)) {
                out.add("accountShow:" + new Account(m.msg(1).msg(1)).id);
            } else if (m.has(2)) {
                out.add("accountStopped:" + m.msg(2).str(1));
            } else if (m.has(3)) {
                out.add("spaceState:" + m.msg(3).msg(1).str(1));
            } else if (m.has(4)) {
                out.add("syncStatus:" + m.msg(4).str(1));
            } else {
                out.add("other");
            }
        }
        return out;
    }
}
