package hearthcheck;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The protobuf wire format, just enough to build requests and read responses
 * and events of pb/ without a protobuf runtime (the host test has no Maven).
 * An app uses protobuf-javalite classes generated from pb/*.proto instead.
 */
final class Wire {
    private Wire() {}

    /** Builds one message: fields are appended in the order given. */
    static final class Builder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Builder varint(int field, long v) {
            if (v != 0) {
                tag(field, 0);
                writeVarint(v);
            }
            return this;
        }

        Builder str(int field, String s) {
            return s == null || s.isEmpty() ? this : bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Builder msg(int field, Builder m) {
            return bytes(field, m.build());
        }

        Builder dbl(int field, double v) {
            tag(field, 1);
            long bits = Double.doubleToLongBits(v);
            for (int i = 0; i < 8; i++) {
                out.write((int) (bits >>> (8 * i)) & 0xFF);
            }
            return this;
        }

        /** One entry of a map<string, message> field. */
        Builder entry(int field, String key, Builder value) {
            return msg(field, message().str(1, key).msg(2, value));
        }

        Builder bytes(int field, byte[] b) {
            tag(field, 2);
            writeVarint(b.length);
            out.write(b, 0, b.length);
            return this;
        }

        byte[] build() {
            return out.toByteArray();
        }

        private void tag(int field, int type) {
            writeVarint(((long) field << 3) | type);
        }

        private void writeVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }
    }

    static Builder message() {
        return new Builder();
    }

    /** A decoded message: each field number to its values (Long or byte[]). */
    static final class Msg {
        private final Map<Integer, List<Object>> fields = new TreeMap<>();

        /** Parses b; null is the empty message (gobind hands an empty byte slice to Java as null). */
        static Msg parse(byte[] b) {
            Msg m = new Msg();
            if (b == null) {
                return m;
            }
            int[] pos = {0};
            while (pos[0] < b.length) {
                long key = readVarint(b, pos);
                int field = (int) (key >>> 3);
                int type = (int) (key & 7);
                Object v;
                switch (type) {
                    case 0:
                        v = readVarint(b, pos);
                        break;
                    case 1:
                        v = slice(b, pos, 8);
                        break;
                    case 2:
                        v = slice(b, pos, (int) readVarint(b, pos));
                        break;
                    case 5:
                        v = slice(b, pos, 4);
                        break;
                    default:
                        throw new IllegalArgumentException("unsupported wire type " + type + " for field " + field);
                }
                m.fields.computeIfAbsent(field, k -> new ArrayList<>()).add(v);
            }
            return m;
        }

        boolean has(int field) {
            return fields.containsKey(field);
        }

        long varint(int field) {
            List<Object> vs = fields.get(field);
            return vs == null ? 0 : (Long) vs.get(vs.size() - 1);
        }

        double dbl(int field) {
            List<Object> vs = fields.get(field);
            if (vs == null) {
                return 0;
            }
            byte[] b = (byte[]) vs.get(vs.size() - 1);
            long bits = 0;
            for (int i = 7; i >= 0; i--) {
                bits = (bits << 8) | (b[i] & 0xFF);
            }
            return Double.longBitsToDouble(bits);
        }

        /** A map<string, message> field: each entry's key=1 to its value=2. */
        Map<String, Msg> entries(int field) {
            Map<String, Msg> out = new TreeMap<>();
            for (Msg e : msgs(field)) {
                out.put(e.str(1), e.msg(2));
            }
            return out;
        }

        String str(int field) {
            List<Object> vs = fields.get(field);
            return vs == null ? "" : new String((byte[]) vs.get(vs.size() - 1), StandardCharsets.UTF_8);
        }

        /** The field as a message; an absent field reads as the empty message. */
        Msg msg(int field) {
            List<Object> vs = fields.get(field);
            return vs == null ? new Msg() : parse((byte[]) vs.get(vs.size() - 1));
        }

        List<Msg> msgs(int field) {
            List<Object> vs = fields.getOrDefault(field, Collections.emptyList());
            List<Msg> out = new ArrayList<>();
            for (Object v : vs) {
                out.add(parse((byte[]) v));
            }
            return out;
        }

        List<String> strs(int field) {
            List<Object> vs = fields.getOrDefault(field, Collections.emptyList());
            List<String> out = new ArrayList<>();
            for (Object v : vs) {
                out.add(new String((byte[]) v, StandardCharsets.UTF_8));
            }
            return out;
        }

        private static byte[] slice(byte[] b, int[] pos, int n) {
            if (n < 0 || pos[0] + n > b.length) {
                throw new IllegalArgumentException("truncated message");
            }
            byte[] out = new byte[n];
            System.arraycopy(b, pos[0], out, 0, n);
            pos[0] += n;
            return out;
        }

        private static long readVarint(byte[] b, int[] pos) {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos[0] >= b.length) {
                    throw new IllegalArgumentException("truncated varint");
                }
                int c = b[pos[0]++] & 0xFF;
                v |= (long) (c & 0x7F) << shift;
                if ((c & 0x80) == 0) {
                    return v;
                }
            }
            throw new IllegalArgumentException("varint too long");
        }
    }
}
