/* Repeated Hubble lines tallied without leaving C: see collectors/hubble/line_scan.py.
 *
 * A Scanner reads blocks of whole lines. For each line of the shape `hubble observe -o jsonpb`
 * writes ({"flow":{"time":"T",...},...,"time":"T"}) it cuts out the values that differ between
 * repeats of one flow (the two times, a uuid right after the first time, the digits of the first
 * "source_port" and, in a flagged reply, of the "destination_port" after it, and the per-request
 * values a live cluster writes new on every line: an L7 latency, HTTP headers, a DNS TTL, the
 * summary, an HTTP URL's query) and hashes the rest, each part length-prefixed, with a keyed
 * 128-bit SipHash-1-3.
 * Equal hashes mean lines equal but for the cut values (up to a 2^-128 chance per pair). A line
 * whose hash the caller has declared standing (Scanner.stand) is counted in C; every other line
 * goes back to the caller, with its hash's slot and its time, to be read in full.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "siphash.h"

/* --- RFC 3339 times, read exactly as collectors.hubble.values.parse_rfc3339 reads them ------- */

static int read_digits(const unsigned char *p, int count, int *out) {
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return 1;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t year, int month, int day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z` → seconds since the epoch. Anything else (other separators,
 * offsets, more digits) returns 0 and the line is read in full, where Python decides. */
static int parse_stamp(const unsigned char *s, Py_ssize_t n, double *out) {
    int year, month, day, hour, minute, second;
    if (n < 20 || n > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[n - 1] != 'Z')
        return 0;
    if (!read_digits(s, 4, &year) || !read_digits(s + 5, 2, &month) ||
        !read_digits(s + 8, 2, &day) || !read_digits(s + 11, 2, &hour) ||
        !read_digits(s + 14, 2, &minute) || !read_digits(s + 17, 2, &second))
        return 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60)
        return 0;
    int64_t whole = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    if (n == 20) {
        *out = (double)whole;
        return 1;
    }
    if (s[19] != '.' || n < 22) return 0;
    char fraction[12];
    fraction[0] = '.';
    Py_ssize_t digits = n - 21;
    for (Py_ssize_t i = 0; i < digits; i++) {
        unsigned char c = s[20 + i];
        if (c < '0' || c > '9') return 0;
        fraction[1 + i] = (char)c;
    }
    fraction[1 + digits] = '\0';
    /* Python's own conversion: the same correctly rounded double as float(".042012383"). */
    double value = PyOS_string_to_double(fraction, NULL, NULL);
    if (value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = (double)whole + value;
    return 1;
}

/* --- the line shape and its key ------------------------------------------------------------ */

static const char HEAD[] = "{\"flow\":{\"time\":\"";
#define HEAD_LEN 17
static const char UUID_FIELD[] = ",\"uuid\":\"";
#define UUID_FIELD_LEN 9
static const char PORT_FIELD[] = "\"source_port\":";
#define PORT_FIELD_LEN 14
static const char WRAPPER_TIME[] = ",\"time\":\"";
#define WRAPPER_TIME_LEN 9
static const char DESTINATION_PORT_FIELD[] = ",\"destination_port\":";
#define DESTINATION_PORT_FIELD_LEN 20
static const char REPLY_FLAG[] = "\"is_reply\":true";
#define REPLY_FLAG_LEN 15

typedef struct {
    const unsigned char *start;
    Py_ssize_t length;
} Part;

/* What a cut holds: the varying values, and how collectors/hubble/line_scan.py probes the
 * per-request ones (see Scanner.probe). */
enum { CUT_UUID, CUT_PORT, CUT_DIGITS, CUT_STRING, CUT_HEADERS, CUT_QUERY, CUT_TRACE };

typedef struct {
    Py_ssize_t start, end;
    int kind;
} Cut;

#define MAX_CUTS 9
#define MAX_PARTS (MAX_CUTS + 2)

static int uuid_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

/* --- values a live cluster writes new on every line ----------------------------------------- */

/* The end of a JSON integer of 1..`most` digits at p[at] (no sign, no leading zero), or -1. */
static Py_ssize_t skip_integer(const unsigned char *p, Py_ssize_t at, Py_ssize_t to, int most) {
    Py_ssize_t end = at;
    while (end < to && end - at <= most && p[end] >= '0' && p[end] <= '9') end++;
    if (end == at || end - at > most || (end - at > 1 && p[at] == '0')) return -1;
    return end;
}

/* The end of a JSON string of printable ASCII at p[at] (its opening quote), or -1. Of the
 * escapes only the one-letter ones are taken: \u could spell what a reader refuses. */
static Py_ssize_t skip_string(const unsigned char *p, Py_ssize_t at, Py_ssize_t to) {
    if (at >= to || p[at] != '"') return -1;
    Py_ssize_t i = at + 1;
    /* eight bytes at a time while none is a quote, a backslash, a control or non-ASCII byte */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (to - i >= 8) {
        uint64_t word, quote, backslash, delete;
        memcpy(&word, p + i, 8);
        quote = word ^ (ones * '"');
        backslash = word ^ (ones * '\\');
        delete = word ^ (ones * 0x7f);
        uint64_t special = ((word - ones * 0x20) | (quote - ones) | (backslash - ones) |
                            (delete - ones) | word) & highs;
        if (special) break;
        i += 8;
    }
    for (; i < to; i++) {
        unsigned char c = p[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (++i >= to) return -1;
            c = p[i];
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                c != 'r' && c != 't')
                return -1;
        } else if (c < 0x20 || c > 0x7e) {
            return -1;
        }
    }
    return -1;
}

static int starts(const unsigned char *p, Py_ssize_t at, Py_ssize_t to, const char *text,
                  Py_ssize_t length) {
    return to - at >= length && memcmp(p + at, text, (size_t)length) == 0;
}

/* The end of an HTTP header list at p[at]: [{"key":"..","value":".."},...], or -1. */
static Py_ssize_t skip_headers(const unsigned char *p, Py_ssize_t at, Py_ssize_t to) {
    if (at >= to || p[at] != '[') return -1;
    Py_ssize_t i = at + 1;
    if (i < to && p[i] == ']') return i + 1;
    while (i < to && p[i] == '{') {
        i++;
        for (;;) {
            if (starts(p, i, to, "\"key\":", 6)) i += 6;
            else if (starts(p, i, to, "\"value\":", 8)) i += 8;
            else return -1;
            i = skip_string(p, i, to);
            if (i < 0 || i >= to) return -1;
            if (p[i] == '}') break;
            if (p[i] != ',') return -1;
            i++;
        }
        if (++i >= to) return -1;
        if (p[i] == ']') return i + 1;
        if (p[i] != ',') return -1;
        i++;
    }
    return -1;
}

/* The end of a trace context at p[at]: {"parent":{"trace_id":".."}} or a part of it, or -1. */
static Py_ssize_t skip_trace(const unsigned char *p, Py_ssize_t at, Py_ssize_t to) {
    if (starts(p, at, to, "{}", 2)) return at + 2;
    if (!starts(p, at, to, "{\"parent\":{", 11)) return -1;
    Py_ssize_t i = at + 11;
    if (starts(p, i, to, "\"trace_id\":", 11)) {
        i = skip_string(p, i + 11, to);
        if (i < 0) return -1;
    }
    return starts(p, i, to, "}}", 2) ? i + 2 : -1;
}

/* The cut of the query (from the first ? or # to the closing quote) of the URL string at p[at]:
 * 1 made, 0 when the URL is kept whole. Only a query that url_path (collectors/hubble/values.py)
 * provably drops is cut: the URL is printable ASCII with no escape before the query, and the
 * part before it holds "://" and then a "/" (url_path reads a path out of the query of
 * "http://host?next=/a"). */
static int url_query(const unsigned char *p, Py_ssize_t at, Py_ssize_t to, Cut *cut) {
    Py_ssize_t end = skip_string(p, at, to);
    if (end < 0) return 0;
    Py_ssize_t query = -1, scheme = -1, slash = -1;
    for (Py_ssize_t i = at + 1; i < end - 1; i++) {
        unsigned char c = p[i];
        if (c == '\\') return 0;
        if (c == '?' || c == '#') {
            query = i;
            break;
        }
        if (scheme < 0 && c == ':' && i + 2 < end - 1 && p[i + 1] == '/' && p[i + 2] == '/') {
            scheme = i;
            i += 2;
        } else if (scheme >= 0 && slash < 0 && c == '/') {
            slash = i;
        }
    }
    if (query < 0 || scheme < 0 || slash < 0) return 0;
    *cut = (Cut){query, end - 1, CUT_QUERY};
    return 1;
}

typedef struct {
    const char *name; /* the member, with its quotes and colon */
    Py_ssize_t length;
} Member;

/* Members of a flow the repeat key never reads that a live cluster writes new on every line:
 * an L7 response's latency, an HTTP request's headers (X-Request-Id), a DNS answer's TTL, the
 * summary (it spells the URL and the TCP flags), the query of an HTTP URL, and the trace a
 * request carries (trace_context, when the request has a traceparent header). */
enum { LATENCY, HEADERS, TTL, SUMMARY, URL, TRACE, PER_REQUEST_COUNT };

static const Member PER_REQUEST[] = {
    {"\"latency_ns\":", 13}, {"\"headers\":", 10}, {"\"ttl\":", 6}, {"\"Summary\":", 10},
    {"\"url\":", 6}, {"\"trace_context\":", 16},
};

/* The cut of one per-request member's value at p[value]: 1 made, 0 nothing to cut, -1 not of
 * the shape. */
static int per_request_cut(const unsigned char *p, Py_ssize_t value, Py_ssize_t to, int member,
                           Cut *cut) {
    Py_ssize_t end = -1;
    int kind = CUT_STRING;
    switch (member) {
    case LATENCY: /* a uint64, a string of digits in protojson */
        if (value < to && p[value] == '"') {
            end = skip_integer(p, value + 1, to, 20);
            if (end < 0 || end >= to || p[end] != '"') return -1;
            end++;
        } else {
            end = skip_integer(p, value, to, 20);
            kind = CUT_DIGITS;
        }
        break;
    case HEADERS:
        end = skip_headers(p, value, to);
        kind = CUT_HEADERS;
        break;
    case TTL:
        end = skip_integer(p, value, to, 10);
        kind = CUT_DIGITS;
        break;
    case SUMMARY:
        end = skip_string(p, value, to);
        break;
    case URL:
        return url_query(p, value, to, cut);
    case TRACE:
        end = skip_trace(p, value, to);
        kind = CUT_TRACE;
        break;
    }
    if (end < 0) return -1;
    *cut = (Cut){value, end, kind};
    return 1;
}

/* The last '"' in p[from, to), or -1; eight bytes at a time where there is none. */
static Py_ssize_t last_quote(const unsigned char *p, Py_ssize_t from, Py_ssize_t to) {
    Py_ssize_t i = to;
    while (i - from >= 8) {
        uint64_t word;
        memcpy(&word, p + i - 8, 8);
        word ^= 0x2222222222222222ULL; /* a quote's byte becomes zero */
        if ((word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL) break;
        i -= 8;
    }
    while (i > from) {
        if (p[--i] == '"') return i;
    }
    return -1;
}

static const char LABELS_FIELD[] = "\"labels\":";
#define LABELS_FIELD_LEN 9
static const char POD_NAME_FIELD[] = "\"pod_name\":";
#define POD_NAME_FIELD_LEN 11
#define ENDPOINT (-2)

/* The cuts of the members found at seen[] (-1: not there), added to cuts[*count]; 0 when one
 * is not of the shape. */
static int cut_members(const unsigned char *p, Py_ssize_t to, const Py_ssize_t *seen, Cut *cuts,
                       int *count) {
    for (int member = 0; member < PER_REQUEST_COUNT; member++) {
        if (seen[member] < 0) continue;
        if (*count == MAX_CUTS) return 0;
        Cut *cut = &cuts[*count];
        int made = per_request_cut(p, seen[member] + PER_REQUEST[member].length, to, member, cut);
        if (made < 0) return 0;
        /* The member ends where its value does: text kept after a number could extend it
         * ("latency_ns":1.5), and the same text after a string would not be JSON. */
        if (made && cut->kind != CUT_QUERY && (cut->end >= to || (p[cut->end] != ',' &&
                                                                 p[cut->end] != '}')))
            return 0;
        *count += made;
    }
    return 1;
}

/* The cuts of the per-request members, added to cuts[*count]. They sit after the endpoints
 * (l7 and Summary come late in a flow), so the quotes of p[from, to) are read backwards from
 * the end down to the last endpoint's "pod_name" or "labels": its long label list is never
 * read. One missed is only a finer key. 0 when a member is there twice, not after { or , or
 * its value is not of the shape: the line is not keyed. */
static int per_request_cuts(const unsigned char *p, Py_ssize_t from, Py_ssize_t to, Cut *cuts,
                            int *count) {
    Py_ssize_t seen[PER_REQUEST_COUNT] = {-1, -1, -1, -1, -1, -1};
    for (Py_ssize_t i = last_quote(p, from, to - 1); i >= 0; i = last_quote(p, from, i)) {
        int member = -1;
        switch (p[i + 1]) {
        case 'l':
            member = starts(p, i, to, LABELS_FIELD, LABELS_FIELD_LEN) ? ENDPOINT : LATENCY;
            break;
        case 'p':
            if (starts(p, i, to, POD_NAME_FIELD, POD_NAME_FIELD_LEN)) member = ENDPOINT;
            break;
        case 'h': member = HEADERS; break;
        case 't': member = i + 2 < to && p[i + 2] == 'r' ? TRACE : TTL; break;
        case 'S': member = SUMMARY; break;
        case 'u': member = URL; break;
        }
        if (member == ENDPOINT) break; /* the last endpoint: its label list is never read */
        if (member < 0) continue;
        const Member *m = &PER_REQUEST[member];
        if (!starts(p, i, to, m->name, m->length)) continue;
        if (seen[member] >= 0 || i == 0 || (p[i - 1] != '{' && p[i - 1] != ',')) return 0;
        seen[member] = i;
    }
    return cut_members(p, to, seen, cuts, count);
}

static Py_ssize_t find(const unsigned char *p, Py_ssize_t from, Py_ssize_t to, const char *needle,
                       Py_ssize_t length) {
    if (to - from < length) return -1;
    /* memmem: a GNU and BSD extension that pyconfig.h's _GNU_SOURCE exposes. */
    const unsigned char *hit = memmem(p + from, (size_t)(to - from), needle, (size_t)length);
    return hit == NULL ? -1 : hit - p;
}

/* The cut of a flagged reply's destination port, the client's: new on every connection, and
 * read by no one once the flow is a reply. Only right after l4's source port ends at
 * p[after], and only when the line holds "is_reply":true; probed as a per-request value, so a
 * key stands only when the repeat key of the line with another port there is the same (an
 * "is_reply" elsewhere than the flow's keeps it from standing). 1 made, 0 none. */
static int reply_port_cut(const unsigned char *p, Py_ssize_t after, Py_ssize_t to, Cut *cut) {
    if (to - after < DESTINATION_PORT_FIELD_LEN ||
        memcmp(p + after, DESTINATION_PORT_FIELD, DESTINATION_PORT_FIELD_LEN) != 0)
        return 0;
    Py_ssize_t value = after + DESTINATION_PORT_FIELD_LEN;
    Py_ssize_t end = skip_integer(p, value, to, 5);
    if (end < 0 || end >= to || (p[end] != ',' && p[end] != '}')) return 0;
    long port = 0;
    for (Py_ssize_t i = value; i < end; i++) port = port * 10 + (p[i] - '0');
    if (port > 65535 || find(p, end, to, REPLY_FLAG, REPLY_FLAG_LEN) < 0) return 0;
    *cut = (Cut){value, end, CUT_DIGITS};
    return 1;
}

/* The parts of a line left once its varying values are cut, its reply class (0: no source port,
 * 1: 1..32767, 2: 0 or 32768 and up, as the reply guess reads it), its time and its cuts.
 * Returns the number of parts, or 0 when the line is not of the shape. */
static int line_parts(const unsigned char *p, Py_ssize_t n, Part parts[MAX_PARTS], int *reply_class,
                      double *time, Cut cuts[MAX_CUTS], int *cut_count) {
    int count = 0;
    *cut_count = 0;
    if (n > 0 && p[n - 1] == '\r') n--; /* \r\n ends one line, as universal newlines read it */
    if (n < HEAD_LEN + 24 || memcmp(p, HEAD, HEAD_LEN) != 0 || memchr(p, '\r', (size_t)n) != NULL)
        return 0;
    const unsigned char *quote = memchr(p + HEAD_LEN, '"', (size_t)(n - HEAD_LEN));
    if (quote == NULL) return 0;
    Py_ssize_t cursor = quote - p;
    if (!parse_stamp(p + HEAD_LEN, cursor - HEAD_LEN, time)) return 0;
    Py_ssize_t rest = cursor;
    /* uuid (newer Hubble) right after the time */
    if (cursor + 1 + UUID_FIELD_LEN < n &&
        memcmp(p + cursor + 1, UUID_FIELD, UUID_FIELD_LEN) == 0) {
        Py_ssize_t value = cursor + 1 + UUID_FIELD_LEN, end = value;
        while (end < n && end - value <= 64 && uuid_char(p[end])) end++;
        if (end < n && p[end] == '"' && end > value && end - value <= 64) {
            cuts[(*cut_count)++] = (Cut){value, end, CUT_UUID};
            rest = end;
        }
    }
    if (n < 2 || p[n - 2] != '"' || p[n - 1] != '}') return 0;
    /* the wrapper's time, the last member: `,"time":"T"}` */
    Py_ssize_t tail = n - 2, opening = tail - 1;
    while (opening > rest && p[opening] != '"') opening--;
    Py_ssize_t stop = n;
    double unused;
    if (opening - WRAPPER_TIME_LEN + 1 >= rest &&
        memcmp(p + opening - WRAPPER_TIME_LEN + 1, WRAPPER_TIME, WRAPPER_TIME_LEN) == 0 &&
        parse_stamp(p + opening + 1, tail - opening - 1, &unused))
        stop = opening + 1;
    Py_ssize_t port = find(p, rest, stop, PORT_FIELD, PORT_FIELD_LEN);
    *reply_class = 0;
    if (port >= 0) {
        Py_ssize_t digits = port + PORT_FIELD_LEN, end = digits;
        long value = 0;
        while (end < stop && end - digits < 6 && p[end] >= '0' && p[end] <= '9') {
            value = value * 10 + (p[end] - '0');
            end++;
        }
        Py_ssize_t length = end - digits;
        if (length < 1 || length > 5 || (length > 1 && p[digits] == '0') || end >= stop ||
            (p[end] != ',' && p[end] != '}'))
            return 0;
        *reply_class = value > 0 && value < 32768 ? 1 : 2;
        cuts[(*cut_count)++] = (Cut){digits, end, CUT_PORT};
        *cut_count += reply_port_cut(p, end, stop, &cuts[*cut_count]);
    }
    if (!per_request_cuts(p, port >= 0 ? port : rest, stop, cuts, cut_count)) return 0;
    /* in line order (a few, so by insertion), never overlapping */
    for (int i = 1; i < *cut_count; i++) {
        Cut moving = cuts[i];
        int j = i;
        while (j > 0 && cuts[j - 1].start > moving.start) {
            cuts[j] = cuts[j - 1];
            j--;
        }
        cuts[j] = moving;
    }
    for (int i = 0; i < *cut_count; i++) {
        if (i > 0 && cuts[i].start < cuts[i - 1].end) return 0;
        parts[count++] = (Part){p + cursor, cuts[i].start - cursor};
        cursor = cuts[i].end;
    }
    parts[count++] = (Part){p + cursor, stop - cursor};
    if (stop != n) parts[count++] = (Part){p + tail, n - tail};
    return count;
}

/* --- the table of keys --------------------------------------------------------------------- */

typedef struct {
    uint64_t hash[2];
    Py_ssize_t slot; /* -1: empty */
} Bucket;

typedef struct {
    int64_t count;
    double first, last;
    char standing;
} Slot;

typedef struct {
    PyObject_HEAD
    uint64_t key[2];
    Bucket *buckets;
    Py_ssize_t capacity; /* a power of two */
    Slot *slots;
    Py_ssize_t used, allocated;
    unsigned char *buffer;
    Py_ssize_t buffer_size;
} Scanner;

static int grow_buckets(Scanner *self) {
    Py_ssize_t capacity = self->capacity ? self->capacity * 2 : 1024;
    Bucket *buckets = PyMem_Malloc(sizeof(Bucket) * (size_t)capacity);
    if (buckets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < capacity; i++) buckets[i].slot = -1;
    for (Py_ssize_t i = 0; i < self->capacity; i++) {
        Bucket *old = &self->buckets[i];
        if (old->slot < 0) continue;
        Py_ssize_t at = (Py_ssize_t)(old->hash[0] & (uint64_t)(capacity - 1));
        while (buckets[at].slot >= 0) at = (at + 1) & (capacity - 1);
        buckets[at] = *old;
    }
    PyMem_Free(self->buckets);
    self->buckets = buckets;
    self->capacity = capacity;
    return 0;
}

/* The slot of a hash, made when new. -1 with an exception set when memory runs out. */
static Py_ssize_t slot_of(Scanner *self, const uint64_t hash[2]) {
    if ((self->used + 1) * 2 > self->capacity && grow_buckets(self) < 0) return -1;
    Py_ssize_t mask = self->capacity - 1;
    Py_ssize_t at = (Py_ssize_t)(hash[0] & (uint64_t)mask);
    while (self->buckets[at].slot >= 0) {
        Bucket *bucket = &self->buckets[at];
        if (bucket->hash[0] == hash[0] && bucket->hash[1] == hash[1]) return bucket->slot;
        at = (at + 1) & mask;
    }
    if (self->used == self->allocated) {
        Py_ssize_t allocated = self->allocated ? self->allocated * 2 : 1024;
        Slot *slots = PyMem_Realloc(self->slots, sizeof(Slot) * (size_t)allocated);
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->slots = slots;
        self->allocated = allocated;
    }
    Py_ssize_t slot = self->used++;
    self->slots[slot] = (Slot){0, 0.0, 0.0, 0};
    self->buckets[at].hash[0] = hash[0];
    self->buckets[at].hash[1] = hash[1];
    self->buckets[at].slot = slot;
    return slot;
}

/* The key of one line's parts: each part length-prefixed, then the reply class. */
static int hash_parts(Scanner *self, const Part *parts, int count, int reply_class,
                      uint64_t hash[2]) {
    Py_ssize_t size = 1;
    for (int i = 0; i < count; i++) size += 8 + parts[i].length;
    if (size > self->buffer_size) {
        unsigned char *buffer = PyMem_Realloc(self->buffer, (size_t)size * 2);
        if (buffer == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->buffer = buffer;
        self->buffer_size = size * 2;
    }
    unsigned char *at = self->buffer;
    for (int i = 0; i < count; i++) {
        uint64_t length = (uint64_t)parts[i].length;
        memcpy(at, &length, 8);
        memcpy(at + 8, parts[i].start, (size_t)parts[i].length);
        at += 8 + parts[i].length;
    }
    *at++ = (unsigned char)reply_class;
    siphash128(self->buffer, (size_t)(at - self->buffer), self->key[0], self->key[1], hash);
    return 0;
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"key", NULL};
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*", keywords, &key)) return -1;
    if (key.len != 16) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the key is 16 bytes");
        return -1;
    }
    memcpy(self->key, key.buf, 16);
    PyBuffer_Release(&key);
    return 0;
}

static void Scanner_dealloc(Scanner *self) {
    PyMem_Free(self->buckets);
    PyMem_Free(self->slots);
    PyMem_Free(self->buffer);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Scanner_feed(Scanner *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *block = view.buf;
    Py_ssize_t size = view.len, start = 0, index = 0, tallied = 0;
    PyObject *rest = PyList_New(0);
    if (rest == NULL) goto failed;
    while (start < size) {
        const unsigned char *newline = memchr(block + start, '\n', (size_t)(size - start));
        Py_ssize_t end = newline ? newline - block : size;
        Py_ssize_t next = newline ? end + 1 : size;
        Part parts[MAX_PARTS];
        Cut cuts[MAX_CUTS];
        int reply_class = 0, cut_count = 0;
        double time = 0.0;
        Py_ssize_t slot = -1;
        int count =
            line_parts(block + start, end - start, parts, &reply_class, &time, cuts, &cut_count);
        if (count > 0) {
            uint64_t hash[2];
            if (hash_parts(self, parts, count, reply_class, hash) < 0) goto failed;
            slot = slot_of(self, hash);
            if (slot < 0) goto failed;
            Slot *found = &self->slots[slot];
            if (found->standing) {
                if (found->count == 0) {
                    found->first = found->last = time;
                } else if (time < found->first) {
                    found->first = time;
                } else if (time > found->last) {
                    found->last = time;
                }
                found->count++;
                tallied++;
                start = next;
                index++;
                continue;
            }
        }
        PyObject *item = Py_BuildValue("(nnnnd)", index, start, next, slot, time);
        if (item == NULL || PyList_Append(rest, item) < 0) {
            Py_XDECREF(item);
            goto failed;
        }
        Py_DECREF(item);
        start = next;
        index++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnN)", tallied, index, rest);
failed:
    Py_XDECREF(rest);
    PyBuffer_Release(&view);
    return NULL;
}

/* The value put in a per-request cut by Scanner.probe: another of its kind. */
static void probe_value(const unsigned char *p, const Cut *cut, const char **text,
                        Py_ssize_t *length) {
    static const char *values[][2] = {
        [CUT_DIGITS] = {"0", "1"},
        [CUT_STRING] = {"\"0\"", "\"1\""},
        [CUT_HEADERS] = {"[]", "[{\"key\":\"0\"}]"},
        [CUT_QUERY] = {"?0", "?1"},
        [CUT_TRACE] = {"{}", "{\"parent\":{}}"},
    };
    const char *first = values[cut->kind][0];
    Py_ssize_t first_length = (Py_ssize_t)strlen(first);
    int same = cut->end - cut->start == first_length &&
               memcmp(p + cut->start, first, (size_t)first_length) == 0;
    *text = values[cut->kind][same];
    *length = (Py_ssize_t)strlen(*text);
}

static PyObject *Scanner_probe(Scanner *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, line = n;
    if (line > 0 && p[line - 1] == '\n') line--;
    Part parts[MAX_PARTS];
    Cut cuts[MAX_CUTS];
    int reply_class = 0, cut_count = 0, per_request = 0;
    double time = 0.0;
    Py_ssize_t size = n;
    if (line_parts(p, line, parts, &reply_class, &time, cuts, &cut_count) > 0) {
        for (int i = 0; i < cut_count; i++) {
            if (cuts[i].kind == CUT_UUID || cuts[i].kind == CUT_PORT) continue;
            const char *text;
            Py_ssize_t length;
            probe_value(p, &cuts[i], &text, &length);
            size += length - (cuts[i].end - cuts[i].start);
            per_request++;
        }
    }
    if (per_request == 0) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *at = PyBytes_AS_STRING(out);
    Py_ssize_t from = 0;
    for (int i = 0; i < cut_count; i++) {
        if (cuts[i].kind == CUT_UUID || cuts[i].kind == CUT_PORT) continue;
        const char *text;
        Py_ssize_t length;
        probe_value(p, &cuts[i], &text, &length);
        memcpy(at, p + from, (size_t)(cuts[i].start - from));
        at += cuts[i].start - from;
        memcpy(at, text, (size_t)length);
        at += length;
        from = cuts[i].end;
    }
    memcpy(at, p + from, (size_t)(n - from));
    PyBuffer_Release(&view);
    return out;
}

static PyObject *Scanner_stand(Scanner *self, PyObject *arg) {
    Py_ssize_t slot = PyLong_AsSsize_t(arg);
    if (slot == -1 && PyErr_Occurred()) return NULL;
    if (slot < 0 || slot >= self->used) {
        PyErr_SetString(PyExc_IndexError, "no such slot");
        return NULL;
    }
    self->slots[slot].standing = 1;
    Py_RETURN_NONE;
}

static PyObject *Scanner_drain(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t slot = 0; slot < self->used; slot++) {
        Slot *found = &self->slots[slot];
        if (found->count == 0) continue;
        PyObject *item = Py_BuildValue("(nLdd)", slot, (long long)found->count, found->first,
                                       found->last);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
        found->count = 0;
    }
    return out;
}

static PyObject *Scanner_clear(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    for (Py_ssize_t i = 0; i < self->capacity; i++) self->buckets[i].slot = -1;
    self->used = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t Scanner_length(Scanner *self) { return self->used; }

static PyMethodDef Scanner_methods[] = {
    {"feed", (PyCFunction)Scanner_feed, METH_O,
     "feed(block) -> (tallied, lines, rest): count the lines of standing keys; rest lists "
     "(index, start, end, slot, time) of every other line, slot -1 when it has no key."},
    {"probe", (PyCFunction)Scanner_probe, METH_O,
     "probe(line) -> bytes or None: the line with another value in every per-request cut "
     "(latency, headers, TTL, summary, URL query), None when it has none or is not keyed."},
    {"stand", (PyCFunction)Scanner_stand, METH_O,
     "stand(slot): later lines of this key are counted here."},
    {"drain", (PyCFunction)Scanner_drain, METH_NOARGS,
     "drain() -> [(slot, count, first, last)] of the lines counted since the last drain."},
    {"clear", (PyCFunction)Scanner_clear, METH_NOARGS, "clear(): forget every key."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Scanner_sequence = {.sq_length = (lenfunc)Scanner_length};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "collectors.hubble._linescan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counts Hubble lines that repeat a known line in all but their time.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_as_sequence = &Scanner_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_linescan",
    .m_doc = "Repeated Hubble lines counted in C.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__linescan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
