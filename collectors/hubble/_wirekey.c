/* The repeat key of a streamed Hubble flow, read off its wire bytes (collectors/hubble/wire_key.py).
 *
 * flow_key(body) walks a serialised observer.GetFlowsResponse and returns
 * (key, seconds, nanos): the flow's time, and a key that equals another flow's key only when
 * every field the mapping reads is the same in both except the time and the per-connection
 * values below. The key is never coarser than collectors/hubble/narrow_key.py's (it is usually
 * finer): what it keeps is the wire bytes of every field the narrow decode reads
 * (KEPT_FIELDS, narrow.FLOW_FIELDS_READ), with
 *   - time (field 1) and uuid (34) left out,
 *   - l4 (6) reduced to its protocol and destination port, the port left out of a flow flagged
 *     is_reply (its client's port, new on every connection); ICMP kept whole,
 *   - l7 (15) without latency_ns, dns (100) without ttl, http (101) with method, url and
 *     protocol and, for code and headers, only whether either is set (the mapping asks
 *     whether the record has any field).
 * Nested parts are written with fixed-width lengths, so two different flows cannot write the
 * same bytes; the key is those bytes' keyed 128-bit SipHash-1-3 (seed(): a key random per
 * process), 16 bytes whatever the flow's size, equal for two different flows with a chance of
 * about 2^-128 per pair. None: not a flow response of that shape (several flows, a node
 * status, a group, a field of an unexpected wire type, bytes cut short); the caller reads it in
 * full.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "siphash.h"

static uint64_t hash_key[2];
static int seeded = 0;

enum { VARINT = 0, I64 = 1, LEN = 2, I32 = 5 };

/* Flow fields kept as they are on the wire: the narrow decode's, but for the four rewritten. */
static const uint32_t KEPT[] = {2,     3,     5,     8,     9,     10,    11, 14, 16, 19, 22,
                                25,    26,    27,    31,    36,    21001, 21002, 21004, 21005};
#define KEPT_COUNT (sizeof(KEPT) / sizeof(KEPT[0]))
enum { F_TIME = 1, F_L4 = 6, F_L7 = 15, F_IS_REPLY = 26, F_UUID = 34 };

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Out;

static int out_reserve(Out *out, size_t more) {
    if (out->failed) return 0;
    if (out->len + more <= out->cap) return 1;
    size_t cap = out->cap ? out->cap : 256;
    while (cap < out->len + more) cap *= 2;
    char *data = PyMem_Realloc(out->data, cap);
    if (data == NULL) {
        out->failed = 1;
        return 0;
    }
    out->data = data;
    out->cap = cap;
    return 1;
}

static void out_put(Out *out, const void *bytes, size_t size) {
    if (!out_reserve(out, size)) return;
    memcpy(out->data + out->len, bytes, size);
    out->len += size;
}

static void out_byte(Out *out, char byte) { out_put(out, &byte, 1); }

static void out_u32(Out *out, uint32_t value) {
    unsigned char bytes[4] = {value >> 24, value >> 16, value >> 8, value};
    out_put(out, bytes, 4);
}

/* Begin a nested part: a marker and a length filled in by out_close. */
static size_t out_open(Out *out, char marker) {
    out_byte(out, marker);
    size_t at = out->len;
    out_u32(out, 0);
    return at;
}

static void out_close(Out *out, size_t at) {
    if (out->failed) return;
    uint32_t size = (uint32_t)(out->len - at - 4);
    unsigned char *bytes = (unsigned char *)out->data + at;
    bytes[0] = size >> 24;
    bytes[1] = size >> 16;
    bytes[2] = size >> 8;
    bytes[3] = size;
}

static int read_varint(const unsigned char **at, const unsigned char *end, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= end) return 0;
        unsigned char byte = *(*at)++;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return 1;
        }
    }
    return 0;
}

/* One field: its number and wire type, where its value starts and where the field ends. */
typedef struct {
    uint32_t number;
    int type;
    const unsigned char *start, *value, *end;
    uint64_t scalar;
} Field;

/* The next field at *at; 0 at a malformed or group field (the caller gives up). */
static int next_field(const unsigned char **at, const unsigned char *end, Field *field) {
    uint64_t tag, size;
    field->start = *at;
    if (!read_varint(at, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) return 0;
    field->number = (uint32_t)(tag >> 3);
    field->type = (int)(tag & 7);
    switch (field->type) {
    case VARINT:
        field->value = *at;
        if (!read_varint(at, end, &field->scalar)) return 0;
        break;
    case I64:
    case I32: {
        size_t width = field->type == I64 ? 8 : 4;
        if ((size_t)(end - *at) < width) return 0;
        field->value = *at;
        *at += width;
        break;
    }
    case LEN:
        if (!read_varint(at, end, &size) || size > (uint64_t)(end - *at)) return 0;
        field->value = *at;
        *at += size;
        break;
    default:
        return 0;
    }
    field->end = *at;
    return 1;
}

static int kept(uint32_t number) {
    for (size_t i = 0; i < KEPT_COUNT; i++)
        if (KEPT[i] == number) return 1;
    return 0;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), as the protobuf
 * parser checks a string field: a value the key leaves out must still be one the parser takes,
 * or a flow it rejects would be counted as the repeat of one it took. */
static int valid_utf8(const unsigned char *at, const unsigned char *end) {
    while (at < end) {
        unsigned char c = *at++;
        if (c < 0x80) continue;
        int more;
        uint32_t code;
        if (c >= 0xC2 && c <= 0xDF) more = 1, code = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) more = 2, code = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) more = 3, code = c & 0x07;
        else return 0;
        if (end - at < more) return 0;
        for (int i = 0; i < more; i++) {
            if ((at[i] & 0xC0) != 0x80) return 0;
            code = code << 6 | (at[i] & 0x3F);
        }
        at += more;
        if ((more == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
            (more == 3 && (code < 0x10000 || code > 0x10FFFF)))
            return 0;
    }
    return 1;
}

/* A message the key leaves out: it must parse, and its string fields (numbers in `strings`,
 * 0-terminated) must be UTF-8. */
static int valid_message(const Field *field, const uint32_t *strings) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (inner.type != LEN) continue;
        for (const uint32_t *number = strings; *number; number++)
            if (inner.number == *number && !valid_utf8(inner.value, inner.end)) return 0;
    }
    return 1;
}

static const uint32_t NO_STRINGS[] = {0};
static const uint32_t HEADER_STRINGS[] = {1, 2, 0}; /* HTTPHeader: key, value */

/* google.protobuf.Timestamp: the last seconds and nanos written (as the parser merges). */
static int read_time(const Field *field, int64_t *seconds, int32_t *nanos) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (inner.type != VARINT) continue;
        if (inner.number == 1) *seconds = (int64_t)inner.scalar;
        else if (inner.number == 2) *nanos = (int32_t)inner.scalar;
    }
    return 1;
}

/* google.protobuf.BoolValue's value. */
static int read_bool(const Field *field, int *value) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (inner.number == 1 && inner.type == VARINT) *value = inner.scalar != 0;
    }
    return 1;
}

typedef struct {
    uint32_t protocol; /* Layer4's oneof field: TCP 1, UDP 2, ICMPv4 3, ICMPv6 4, SCTP 5 ... */
    int has_port;
    uint64_t port;
    const unsigned char *whole, *whole_end; /* the protocol message, for those kept whole */
} L4;

static int read_l4(const Field *field, L4 *l4) {
    const unsigned char *at = field->value, *end = field->end;
    Field protocol, inner;
    while (at < end) {
        if (!next_field(&at, end, &protocol) || protocol.type != LEN || l4->protocol) return 0;
        l4->protocol = protocol.number;
        l4->whole = protocol.value;
        l4->whole_end = protocol.end;
        if (protocol.number != 1 && protocol.number != 2 && protocol.number != 5) continue;
        const unsigned char *in = protocol.value;
        while (in < protocol.end) {
            if (!next_field(&in, protocol.end, &inner)) return 0;
            if (inner.number == 2 && inner.type == VARINT) {
                l4->has_port = 1;
                l4->port = inner.scalar;
            } else if (inner.number == 3 && protocol.number == 1 && inner.type == LEN) {
                if (!valid_message(&inner, NO_STRINGS)) return 0; /* TCP's flags */
            } else if (!(inner.number == 1 && inner.type == VARINT)) {
                return 0; /* not a port or TCP's flags: read it in full */
            }
        }
    }
    return 1;
}

static int write_http(Out *out, const Field *field) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    uint32_t code = 0; /* the parser keeps the last code, cut to 32 bits */
    int headers = 0;
    size_t at_len = out_open(out, 'H');
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (inner.number == 1 && inner.type == VARINT) {
            code = (uint32_t)inner.scalar;
        } else if (inner.number == 5 && inner.type == LEN) {
            if (!valid_message(&inner, HEADER_STRINGS)) return 0;
            headers = 1;
        } else {
            out_put(out, inner.start, inner.end - inner.start);
        }
    }
    out_close(out, at_len);
    out_byte(out, (char)(code != 0 || headers)); /* whether the record has a field: all the
                                                    mapping asks of these two */
    return 1;
}

static int write_dns(Out *out, const Field *field) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    size_t at_len = out_open(out, 'D');
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (!(inner.number == 3 && inner.type == VARINT)) out_put(out, inner.start, inner.end - inner.start);
    }
    out_close(out, at_len);
    return 1;
}

static int write_l7(Out *out, const Field *field) {
    const unsigned char *at = field->value, *end = field->end;
    Field inner;
    int records = 0; /* several would be merged by the parser: read those in full */
    size_t at_len = out_open(out, 'Y');
    while (at < end) {
        if (!next_field(&at, end, &inner)) return 0;
        if (inner.number == 2 && inner.type == VARINT) continue; /* latency_ns */
        if (inner.number == 100 && inner.type == LEN) {
            if (records++ || !write_dns(out, &inner)) return 0;
        } else if (inner.number == 101 && inner.type == LEN) {
            if (records++ || !write_http(out, &inner)) return 0;
        } else {
            size_t raw = out_open(out, 'R');
            out_put(out, inner.start, inner.end - inner.start);
            out_close(out, raw);
        }
    }
    out_close(out, at_len);
    return 1;
}

/* The flow message of a response: 0 unless exactly one flow and nothing but its times/node. */
static int response_flow(const unsigned char *at, const unsigned char *end, Field *flow) {
    Field field;
    int flows = 0;
    while (at < end) {
        if (!next_field(&at, end, &field)) return 0;
        if (field.number == 1 && field.type == LEN) {
            *flow = field;
            flows++;
        } else if (field.number == 1000) { /* node_name, decoded though left out */
            if (field.type == LEN && !valid_utf8(field.value, field.end)) return 0;
        } else if (field.number == 1001) { /* time */
            if (field.type == LEN && !valid_message(&field, NO_STRINGS)) return 0;
        } else {
            return 0;
        }
    }
    return flows == 1;
}

static int write_key(Out *kept_fields, Out *rest, const Field *flow, int64_t *seconds,
                     int32_t *nanos) {
    const unsigned char *at = flow->value, *end = flow->end;
    Field field;
    int times = 0, l4s = 0, l7s = 0, replies = 0, is_reply = 0;
    L4 l4 = {0};
    while (at < end) {
        if (!next_field(&at, end, &field)) return 0;
        switch (field.number) {
        case F_TIME:
            if (field.type != LEN || times++ || !read_time(&field, seconds, nanos)) return 0;
            continue;
        case F_UUID:
            if (field.type == LEN && !valid_utf8(field.value, field.end)) return 0;
            continue;
        case F_L4:
            if (field.type != LEN || l4s++ || !read_l4(&field, &l4)) return 0;
            continue;
        case F_L7:
            if (field.type != LEN || l7s++ || !write_l7(rest, &field)) return 0;
            continue;
        case F_IS_REPLY:
            if (field.type != LEN || replies++ || !read_bool(&field, &is_reply)) return 0;
            break;
        default:
            break;
        }
        if (kept(field.number)) out_put(kept_fields, field.start, field.end - field.start);
    }
    if (!times) return 0;
    size_t at_l4 = out_open(rest, 'L');
    if (l4s) {
        out_u32(rest, l4.protocol);
        if (l4.protocol == 1 || l4.protocol == 2 || l4.protocol == 5) {
            int keep_port = l4.has_port && !is_reply;
            out_byte(rest, (char)keep_port);
            if (keep_port) {
                out_u32(rest, (uint32_t)(l4.port >> 32));
                out_u32(rest, (uint32_t)l4.port);
            }
        } else if (l4.whole != NULL) {
            out_put(rest, l4.whole, l4.whole_end - l4.whole);
        }
    }
    out_close(rest, at_l4);
    return 1;
}

static PyObject *flow_key(PyObject *module, PyObject *arg) {
    if (!seeded) {
        PyErr_SetString(PyExc_RuntimeError, "seed() the key first");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *start = view.buf, *end = start + view.len;
    Field flow;
    Out kept_fields = {0}, rest = {0};
    int64_t seconds = 0;
    int32_t nanos = 0;
    PyObject *result = NULL;
    size_t at_kept = out_open(&kept_fields, 'K');
    if (!response_flow(start, end, &flow) || !write_key(&kept_fields, &rest, &flow, &seconds, &nanos)) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    out_close(&kept_fields, at_kept);
    out_put(&kept_fields, rest.data, rest.len);
    if (kept_fields.failed || rest.failed) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t hash[2];
    siphash128((const unsigned char *)kept_fields.data, kept_fields.len, hash_key[0], hash_key[1],
               hash);
    PyObject *key = PyBytes_FromStringAndSize((const char *)hash, 16);
    if (key == NULL) goto done;
    result = Py_BuildValue("(NLi)", key, (long long)seconds, (int)nanos);
done:
    PyMem_Free(kept_fields.data);
    PyMem_Free(rest.data);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *seed(PyObject *module, PyObject *arg) {
    Py_buffer key;
    if (PyObject_GetBuffer(arg, &key, PyBUF_SIMPLE) < 0) return NULL;
    if (key.len != 16) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the key is 16 bytes");
        return NULL;
    }
    memcpy(hash_key, key.buf, 16);
    seeded = 1;
    PyBuffer_Release(&key);
    Py_RETURN_NONE;
}

static PyObject *kept_fields(PyObject *module, PyObject *unused) {
    PyObject *numbers = PyTuple_New(KEPT_COUNT);
    if (numbers == NULL) return NULL;
    for (size_t i = 0; i < KEPT_COUNT; i++) {
        PyObject *number = PyLong_FromUnsignedLong(KEPT[i]);
        if (number == NULL) {
            Py_DECREF(numbers);
            return NULL;
        }
        PyTuple_SET_ITEM(numbers, i, number);
    }
    return numbers;
}

static PyMethodDef methods[] = {
    {"flow_key", flow_key, METH_O,
     "(key, seconds, nanos) of a serialised GetFlowsResponse's flow, or None."},
    {"seed", seed, METH_O, "Set the 16-byte key of the hash (once, at import)."},
    {"kept_fields", kept_fields, METH_NOARGS,
     "The Flow field numbers the key keeps as they are on the wire."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wirekey", "Repeat keys of streamed Hubble flows.", -1, methods,
};

PyMODINIT_FUNC PyInit__wirekey(void) { return PyModule_Create(&module); }
