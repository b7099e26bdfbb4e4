/*
 * The UDP socket of the SIP transport, with overload control's refusals answered where the
 * datagram is read (RFC 3261 §21.5.4: 503 with Retry-After; RFC 7339 §5's idea of shedding before
 * a request costs much).
 *
 * Why native: under a flood, a refused request costs one datagram read and one sent, and through
 * node's dgram that alone is ~7.7 µs of CPU on our reference VM (a C sender and receiver: ~5.4 µs),
 * most of it node's per-datagram machinery (a callback into JavaScript with its microtask
 * checkpoint, a `rinfo` object, a Buffer, a send request). Perfect control at 3x the sustained
 * rate keeps (c - 3r)/(c - r) of it, with c what a call costs and r what a refusal costs: with
 * c ~86 µs that is 78% at r = 8.5 µs and 86% at r = 5.7 µs (test/bench/README.md, session 26).
 *
 * What is decided here is when new work starts: a request that is new work by the lines the
 * JavaScript guard (overload-guard.ts) reads (raw-head.ts: not ACK, CANCEL or REGISTER, no
 * credentials, no To tag) and not a retransmission of one passed on before is held back (`defer`)
 * while what finishes work begun goes first, and answered 503 if it waits past the longest wait
 * (see admit_held), and starts only while fewer challenges wait for their answer than the process
 * finishes in 50 ms (see owed_room). Everything else goes to JavaScript at once, in one call per
 * batch of datagrams read (recvmmsg). What JavaScript sends comes in one call per turn (sendMany), a
 * sendto each: sendmmsg saved nothing measurable (2.8 µs a loopback datagram either way, almost all
 * of it the kernel's, session 29); the answers given here go out with sendmmsg. Requests "inside" one of our
 * refusals (a To tag we gave a 503) are answered 481 or, for ACK, taken silently, as
 * load-shedder.ts does.
 *
 * And since session 33 the digest challenge to new work (407 to a MESSAGE without credentials) is
 * answered here too, as the stack would answer it, when the stack configured it (`challenge`; see
 * plan_challenge): the first half of nearly every call, with no call into JavaScript.
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* datagrams read per recvmmsg, one JavaScript call each; and how many such reads per wake-up
 * before the event loop gets its turn (timers, connections): node's dgram reads at most 32 */
#define BATCH 64
#define READS_PER_WAKE 2
/* the largest UDP payload (IPv6 without jumbograms); a datagram is never truncated */
#define DGRAM_MAX 65535
/* the header section a refusal looks at: as raw-head.ts, nothing past 16 KiB */
#define HEAD_MAX 16384
/* the per-datagram record shared with JavaScript: offset, length, port, address index, and 1 when
 * it is new work this socket held and admitted (JavaScript must not judge it again) */
#define META_FIELDS 5
/* new work held back (`defer`): slots, the largest datagram one holds (larger ones are passed on
 * at once), and the most batches one wake-up reads while holding (it stops earlier once it has
 * used twice its budget: the event loop's other work gets its turn) */
#define HELD_SLOTS 8192
#define HELD_MAX 2048
#define HOLDING_READS 64
/* challenges owed an answer (see `owed_room`): counted in OWED_SLOTS slots of OWED_SLOT_MS; a
 * challenge older than all of them (64 ms: a client answers one in its round trip) is owed no
 * more. New work stops starting while OWED_MS of what the process finishes (challenged requests
 * back with credentials) is owed, and never below OWED_MIN (a client that never answers its
 * challenges must send 4,000 new requests a second to reach it). */
#define OWED_SLOTS 8
#define OWED_SLOT_MS 8.0
#define OWED_MS 50.0
#define OWED_MIN 256
/* a socket that sent a challenge this recently (64·T1) is taken for one whose server challenges
 * new work: the bound applies from a flood's first turn, even after a quiet spell */
#define CHALLENGER_MS 32000.0

/* a datagram of new work held back: its length, when it was read, who sent it, its branch's hash */
typedef struct {
  uint32_t len;
  int has_branch;
  uint32_t hash;
  /* its branch's memo_hash (when the socket challenges) */
  uint32_t memo_hash;
  socklen_t from_len;
  double at;
  struct sockaddr_storage from;
} held_rec;

typedef struct {
  uint32_t *slots; /* 0 empty; a branch's hash otherwise (0 hashed to 1) */
  size_t cap;      /* a power of two */
  size_t used;
} branch_set;

typedef struct {
  int fd;
  int family;
  uv_poll_t poll;
  int polling;
  /* closed from JavaScript (or at finalisation); the loop released the handle; JavaScript dropped it */
  int closed;
  int released;
  int finalized;
  napi_env env;
  napi_ref on_batch;
  napi_ref meta_ref;
  int32_t *meta;
  napi_async_context async;
  /* receive */
  char *bufs;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage from[BATCH];
  /* the datagrams of one batch passed on, and whether the gate admitted each as new work */
  int pass_index[BATCH];
  int pass_admitted[BATCH];
  /* refusals of one batch, sent together at its end */
  char *out;
  size_t out_used;
  struct mmsghdr out_msgs[BATCH];
  struct iovec out_iov[BATCH];
  struct sockaddr_storage out_to[BATCH];
  int out_count;
  /* new work held back while finishing work goes first (see `defer`): on, the longest a datagram
   * is held before it is refused, the time a wake-up may spend before new work gets none */
  int defer_on;
  double max_wait_ms;
  double budget_ms;
  char *held_bytes;
  held_rec *held;
  size_t held_head;
  size_t held_count;
  /* run once per loop turn while something is held; whether the socket was read since it last ran */
  uv_idle_t idle;
  int idle_active;
  int read_since_idle;
  /* run instead of the idle handle while held work waits for challenges owed (see hold_update) */
  uv_timer_t wake;
  int wake_active;
  /* handles not yet closed (poll, idle, wake): the last close releases the memory */
  int handles_open;
  /* refusal answers: To tag `<prefix>.<counter>`, the lines after the copied ones */
  uint64_t tag_counter;
  char refusal_extra[512];
  size_t refusal_extra_len;
  char dialog_extra[512];
  size_t dialog_extra_len;
  /* `=<prefix>`: what a request inside one of our refusals' "dialogs" carries in its To tag (the
   * prefix is the JavaScript shedder's; ours add `.` and a counter, so both are recognised by it) */
  char tag_bytes[66];
  size_t tag_bytes_len;
  double dialog_after_ms;
  double last_refusal_at;
  /* challenges (401, 407) sent and requests with credentials read, per slot of OWED_SLOT_MS, the
   * newest in `owed_cur`, which began at `owed_at` (see `owed`) */
  uint32_t challenged[OWED_SLOTS];
  uint32_t credited[OWED_SLOTS];
  int owed_cur;
  double owed_at;
  /* when a challenge was last sent while holding (-1: never) */
  double last_challenge_at;
  /* new work passed on while holding since JavaScript last sent (its challenges go out with the
   * turn's other answers, at setImmediate, after every admission of the turn: from the owed
   * timer, the idle handle, after a read), and when the first of it was */
  size_t started_unsent;
  double started_at;
  /* branches of new work passed on, two generations (a retransmission of one goes on too) */
  branch_set cur;
  branch_set prev;
  double generation_at;
  double generation_ms;
  /* counts since JavaScript last drained them (`challenged_here`: new work this socket challenged itself) */
  double challenged_here;
  double judged;
  double admitted;
  double refused;
  double answered_in_dialog;
  /* the challenge answered here (NULL: none is, see js_challenge) */
  struct challenge_cfg *ch;
  /* send: the last address parsed, kept (most datagrams go to a few peers) */
  char last_addr[64];
  size_t last_addr_len;
  struct sockaddr_storage last_sa;
  socklen_t last_sa_len;
} gate_socket;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---------- addresses ---------- */

/* an address as text, as inet_ntop writes it (IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d) */
static void address_text(const struct sockaddr_storage *sa, char *out, size_t cap) {
  if (sa->ss_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
  else inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
}

static uint16_t port_of(const struct sockaddr_storage *sa) {
  return ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port : ((const struct sockaddr_in *)sa)->sin_port);
}

/* ---------- errors ---------- */

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  const char *code = NULL;
  switch (err) {
    case EADDRINUSE: code = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: code = "EADDRNOTAVAIL"; break;
    case EACCES: code = "EACCES"; break;
    case EINVAL: code = "EINVAL"; break;
    case EAFNOSUPPORT: code = "EAFNOSUPPORT"; break;
    default: code = "EIO"; break;
  }
  snprintf(msg, sizeof msg, "%s %s: %s", what, code, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

/* ---------- the set of branches passed on ---------- */

static uint32_t hash_bytes(const char *p, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 16777619u;
  }
  return h == 0 ? 1 : h;
}

static int set_has(const branch_set *s, uint32_t h) {
  if (s->cap == 0) return 0;
  size_t mask = s->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (s->slots[i] == h) return 1;
    if (s->slots[i] == 0) return 0;
  }
}

static void set_put_raw(branch_set *s, uint32_t h) {
  size_t mask = s->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (s->slots[i] == h) return;
    if (s->slots[i] == 0) {
      s->slots[i] = h;
      s->used++;
      return;
    }
  }
}

static void set_put(branch_set *s, uint32_t h) {
  if (s->cap == 0 || 2 * (s->used + 1) > s->cap) {
    size_t cap = s->cap == 0 ? 1 << 14 : 2 * s->cap;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) return; /* not remembered: its retransmission may be refused, as a request would be */
    branch_set grown = {slots, cap, 0};
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i] != 0) set_put_raw(&grown, s->slots[i]);
    free(s->slots);
    *s = grown;
  }
  set_put_raw(s, h);
}

static void set_clear(branch_set *s) {
  /* shrunk back: a flood's generation need not hold its memory for the next */
  free(s->slots);
  s->slots = NULL;
  s->cap = 0;
  s->used = 0;
}

static void rotate_generations(gate_socket *g, double now) {
  if (now - g->generation_at < g->generation_ms) return;
  set_clear(&g->prev);
  g->prev = g->cur;
  g->cur = (branch_set){NULL, 0, 0};
  g->generation_at = now;
}

/* ---------- challenges owed an answer ---------- */

/*
 * Under digest authentication a call is two requests: the first, new work, costs a challenge (401,
 * 407: cheap), the second, with credentials, costs the call and is never held (it finishes what was
 * begun). New work starting as fast as challenges go out would, when a flood begins, start far
 * more calls than the process can finish: their second halves then come back together, queue
 * past the client's retransmission interval (T1, RFC 3261 §17.1.2.2) and overflow the receive
 * buffer, while every held request waits past the longest wait and is refused (session 28: a
 * flood's first second kept 70% where the seconds after it kept 77%). So new work starts only
 * while fewer challenges are owed an answer than the process finishes in OWED_MS.
 *
 * Owed: challenges this socket sent in the last OWED_SLOTS * OWED_SLOT_MS, less the requests with
 * credentials read since, set against the oldest first. A client that never answers its challenge
 * is owed nothing once that window passed, so it cannot hold the door shut; a server that sends
 * no challenge (no authentication) owes nothing and is never held back here.
 */
/* the count started afresh: holding starts (nothing is counted while not holding, see judge and
 * js_send_many), or the window passed with nothing in it */
static void owed_reset(gate_socket *g, double now) {
  g->started_unsent = 0;
  memset(g->challenged, 0, sizeof g->challenged);
  memset(g->credited, 0, sizeof g->credited);
  g->owed_at = now;
}

static void owed_advance(gate_socket *g, double now) {
  if (now - g->owed_at >= OWED_SLOTS * OWED_SLOT_MS) {
    owed_reset(g, now);
    return;
  }
  while (now - g->owed_at >= OWED_SLOT_MS) {
    g->owed_cur = (g->owed_cur + 1) % OWED_SLOTS;
    g->challenged[g->owed_cur] = 0;
    g->credited[g->owed_cur] = 0;
    g->owed_at += OWED_SLOT_MS;
  }
}

static void owed_challenge(gate_socket *g, double now) {
  owed_advance(g, now);
  g->challenged[g->owed_cur]++;
  g->last_challenge_at = now;
}

/* a request with credentials read: the oldest challenge still owed is answered */
static void owed_credit(gate_socket *g, double now) {
  owed_advance(g, now);
  g->credited[g->owed_cur]++;
  for (int k = 1; k <= OWED_SLOTS; k++) {
    int s = (g->owed_cur + k) % OWED_SLOTS;
    if (g->challenged[s] > 0) {
      g->challenged[s]--;
      return;
    }
  }
}

/* whether the bound applies now: holding, and a challenge sent within CHALLENGER_MS (a server that
 * challenges nothing is never held back here); if so, the challenges owed and the most that may be
 * owed, what the process finishes in OWED_MS (at least OWED_MIN) */
static int owed_bound(gate_socket *g, double now, double *owed, double *limit) {
  if (!g->defer_on || g->last_challenge_at < 0 || now - g->last_challenge_at > CHALLENGER_MS) return 0;
  owed_advance(g, now);
  double challenged = 0, credited = 0;
  for (int s = 0; s < OWED_SLOTS; s++) {
    challenged += g->challenged[s];
    credited += g->credited[s];
  }
  /* credited over the window: OWED_SLOTS - 1 whole slots and the current one, half gone on average */
  double most = credited * OWED_MS / ((OWED_SLOTS - 0.5) * OWED_SLOT_MS);
  *owed = challenged;
  *limit = most < OWED_MIN ? OWED_MIN : most;
  return 1;
}

/* new work started while holding (the count `owed_room` leaves room for until the turn's sends) */
static void owed_start(gate_socket *g, double now) {
  if (!g->defer_on) return;
  if (g->started_unsent == 0) g->started_at = now;
  g->started_unsent++;
}

/* how much new work may start now: the bound's room, less new work started since JavaScript last
 * sent (js_send_many clears the count: the turn's challenges are then counted as owed; work that
 * was started and answered no other way is no longer counted then). A count JavaScript never
 * settled, no send at all for the whole window, is dropped */
static size_t owed_room(gate_socket *g, double now) {
  double owed, limit;
  if (!owed_bound(g, now, &owed, &limit)) return SIZE_MAX;
  if (g->started_unsent > 0 && now - g->started_at > OWED_SLOTS * OWED_SLOT_MS) g->started_unsent = 0;
  owed += (double)g->started_unsent;
  return owed >= limit ? 0 : (size_t)(limit - owed);
}

/* ---------- the raw look (as raw-head.ts and raw-key.ts) ---------- */

static const char *find(const char *p, size_t n, const char *what, size_t len) {
  return memmem(p, n, what, len);
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* RFC 3261 §25.1 token (scanner.ts TOKEN) */
static int is_token_char(char c) { return is_alnum(c) || (c != 0 && strchr("-.!%*_+`'~", c) != NULL); }

static int name_is(const char *p, size_t n, const char *lower) {
  size_t len = strlen(lower);
  if (n != len) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c != lower[i]) return 0;
  }
  return 1;
}

/* the lines a response copies (Via, From, To, Call-ID, CSeq: RFC 3261 §8.2.6.2), credentials, and
 * what the challenge answered here reads: the lines the parser checks (parser.ts checkRequest,
 * SINGLE_HEADERS), of which Date and Contact (K_UNREAD) are left to it */
enum kind {
  K_OTHER, K_VIA, K_FROM, K_TO, K_CALLID, K_CSEQ, K_CREDENTIALS, K_UA, K_MAXF, K_PROXY_REQUIRE, K_CLEN,
  K_CTYPE, K_EXPIRES, K_TOKENS, K_SINGLE, K_UNREAD, K_KINDS
};

static enum kind kind_of(const char *name, size_t n) {
  switch (n) {
    case 1:
      switch (name[0] | 0x20) {
        case 'v': return K_VIA;
        case 'f': return K_FROM;
        case 'i': return K_CALLID;
        case 't': return K_TO;
        case 'l': return K_CLEN;
        case 'c': return K_CTYPE;
        case 'k': return K_TOKENS;
        case 'm': return K_UNREAD;
        default: return K_OTHER;
      }
    case 2: return name_is(name, n, "to") ? K_TO : K_OTHER;
    case 3: return name_is(name, n, "via") ? K_VIA : K_OTHER;
    case 4: return name_is(name, n, "from") ? K_FROM : name_is(name, n, "cseq") ? K_CSEQ : name_is(name, n, "date") ? K_UNREAD : K_OTHER;
    case 7:
      return name_is(name, n, "call-id") ? K_CALLID : name_is(name, n, "contact") ? K_UNREAD : name_is(name, n, "expires") ? K_EXPIRES : name_is(name, n, "require") ? K_TOKENS : K_OTHER;
    case 9: return name_is(name, n, "supported") ? K_TOKENS : K_OTHER;
    case 10: return name_is(name, n, "user-agent") ? K_UA : K_OTHER;
    case 11: return name_is(name, n, "min-expires") ? K_SINGLE : K_OTHER;
    case 12: return name_is(name, n, "max-forwards") ? K_MAXF : name_is(name, n, "content-type") ? K_CTYPE : name_is(name, n, "mime-version") ? K_SINGLE : K_OTHER;
    case 13: return name_is(name, n, "authorization") ? K_CREDENTIALS : name_is(name, n, "proxy-require") ? K_PROXY_REQUIRE : K_OTHER;
    case 14: return name_is(name, n, "content-length") ? K_CLEN : K_OTHER;
    case 19: return name_is(name, n, "proxy-authorization") ? K_CREDENTIALS : name_is(name, n, "content-disposition") ? K_SINGLE : K_OTHER;
    default: return K_OTHER;
  }
}

#define MAX_COPIED 32

typedef struct {
  const char *method;
  size_t method_len;
  int credentials;
  /* the To tag's value (NULL: no tag) */
  const char *tag;
  size_t tag_len;
  /* the lines a response copies (RFC 3261 §8.2.6.2), and which is To */
  const char *line[MAX_COPIED];
  size_t line_len[MAX_COPIED];
  enum kind line_kind[MAX_COPIED];
  int lines;
  int to;
  /* for plan_challenge: how many of each copied line, the first value of the lines it reads (NULL:
   * none), where the body starts */
  int count[K_KINDS];
  const char *value[K_KINDS];
  size_t value_len[K_KINDS];
  /* a header name that is no token (the parser refuses it) */
  int bad_name;
  size_t body;
} raw_head;

/* the `;tag=` parameter of a To value, as raw-head.ts's TAG: `;`, blanks, `tag`, blanks, `=`, blanks */
static void to_tag(const char *v, size_t n, raw_head *h) {
  for (size_t i = 0; i < n; i++) {
    if (v[i] != ';') continue;
    size_t j = i + 1;
    while (j < n && (is_blank(v[j]) || v[j] == '\r' || v[j] == '\n')) j++;
    if (j + 3 > n || !name_is(v + j, 3, "tag")) continue;
    j += 3;
    while (j < n && is_blank(v[j])) j++;
    if (j >= n || v[j] != '=') continue;
    j++;
    while (j < n && is_blank(v[j])) j++;
    size_t start = j;
    while (j < n && v[j] != ';' && !is_blank(v[j])) j++;
    h->tag = v + start;
    h->tag_len = j - start;
    return;
  }
}

/* the next CRLF at or after p, before limit (NULL: none): a line ends at CRLF only, as in
 * raw-head.ts, so a bare LF stays inside its line. One vectorised memchr for each LF, where a
 * memmem for the two bytes cost a call a line and the blank line's search a pass of its own
 * (2.6% of the process's time at 3x the sustained rate, nearly all of it here). */
static const char *next_crlf(const char *p, const char *limit) {
  while (p < limit) {
    const char *lf = memchr(p, '\n', (size_t)(limit - p));
    if (lf == NULL) return NULL;
    if (lf > p && lf[-1] == '\r') return lf - 1;
    p = lf + 1;
  }
  return NULL;
}

/* 1: a request this look can judge; 0: left to JavaScript (a response, folded lines, no To …).
 * The header section ends at its first empty line (the first CRLF CRLF), within HEAD_MAX bytes. */
static int look(const char *buf, size_t n, raw_head *h) {
  if (n >= 4 && memcmp(buf, "SIP/", 4) == 0) return 0;
  /* the section's end, CRLF CRLF, starting at HEAD_MAX at the latest: the loop ends on it only
   * when all four bytes are before `limit` (past it: left to the parser) */
  const char *limit = buf + (n < HEAD_MAX + 4 ? n : HEAD_MAX + 4);
  const char *eol = next_crlf(buf, limit);
  if (eol == NULL || eol == buf) return 0;
  const char *sp = memchr(buf, ' ', (size_t)(eol - buf));
  if (sp == NULL || sp == buf) return 0;
  memset(h, 0, sizeof *h);
  h->method = buf;
  h->method_len = (size_t)(sp - buf);
  h->to = -1;
  for (;;) {
    const char *start = eol + 2;
    /* the empty line: the header section's end */
    if (start + 2 <= limit && start[0] == '\r' && start[1] == '\n') {
      h->body = (size_t)(start + 2 - buf);
      break;
    }
    const char *stop = next_crlf(start, limit);
    /* no empty line within HEAD_MAX: left to the parser */
    if (stop == NULL) return 0;
    eol = stop;
    if (is_blank(*start)) return 0; /* folded: the parser's */
    const char *colon = memchr(start, ':', (size_t)(stop - start));
    if (colon == NULL || colon == start) return 0;
    const char *name_end = colon;
    while (name_end > start && is_blank(name_end[-1])) name_end--;
    for (const char *c = start; c < name_end; c++)
      if (!is_token_char(*c)) h->bad_name = 1;
    enum kind k = kind_of(start, (size_t)(name_end - start));
    if (k == K_OTHER) continue;
    if (k == K_CREDENTIALS) {
      h->credentials = 1;
      continue;
    }
    if (h->count[k]++ == 0) {
      const char *v = colon + 1;
      while (v < stop && is_blank(*v)) v++;
      const char *e = stop;
      while (e > v && is_blank(e[-1])) e--;
      h->value[k] = v;
      h->value_len[k] = (size_t)(e - v);
    }
    if (k != K_VIA && k != K_FROM && k != K_TO && k != K_CALLID && k != K_CSEQ) continue;
    if (h->lines == MAX_COPIED) return 0;
    if (k == K_TO) {
      /* the last To decides, as in raw-head.ts */
      h->to = h->lines;
      h->tag = NULL;
      h->tag_len = 0;
      to_tag(colon + 1, (size_t)(stop - colon - 1), h);
    }
    h->line[h->lines] = start;
    h->line_len[h->lines] = (size_t)(stop - start);
    h->line_kind[h->lines] = k;
    h->lines++;
  }
  return h->to >= 0;
}

/* the first `;branch=` value in the datagram, as raw-key.ts's rawBranch: its first cheap look */
static int raw_branch(const char *buf, size_t n, const char **v, size_t *len) {
  static const char key[] = ";branch=";
  const char *at = find(buf, n, key, sizeof key - 1);
  if (at == NULL) return 0;
  const char *p = at + sizeof key - 1;
  const char *limit = buf + n;
  if (limit > p + 256) limit = p + 256;
  const char *e = p;
  while (e < limit && *e != ';' && *e != ',' && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') e++;
  *v = p;
  *len = (size_t)(e - p);
  return 1;
}

static int method_is(const raw_head *h, const char *m) {
  size_t n = strlen(m);
  return h->method_len == n && memcmp(h->method, m, n) == 0;
}

/* ---------- answers ---------- */

static char *out_reserve(gate_socket *g, size_t n) {
  /* BATCH answers of at most HEAD_MAX + 2 KiB each fit (see js_open): every path sends what it
   * answered before it has answered BATCH (a read's batch answers at most one per datagram, and
   * refuse_held sends at BATCH) */
  char *p = g->out + g->out_used;
  g->out_used += n;
  return p;
}

#define APPEND(p, s, n) (memcpy((p), (s), (n)), (p) += (n))

/* a counter in base 36, the digits a tag of ours ends in: how many were written at p */
static size_t write_base36(char *p, uint64_t v) {
  char num[16];
  int k = 0;
  do {
    int d = (int)(v % 36);
    num[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= 36;
  } while (v > 0);
  size_t n = (size_t)k;
  while (k > 0) *p++ = num[--k];
  return n;
}

/* the answer written from `start` to `end` (`need` bytes reserved) queued for send_answers */
static void queue_answer(gate_socket *g, char *start, size_t need, char *end, const struct sockaddr_storage *to, socklen_t to_len) {
  /* what was reserved and not written is given back */
  g->out_used -= need - (size_t)(end - start);
  int i = g->out_count++;
  g->out_iov[i].iov_base = start;
  g->out_iov[i].iov_len = (size_t)(end - start);
  memset(&g->out_msgs[i], 0, sizeof g->out_msgs[i]);
  g->out_msgs[i].msg_hdr.msg_iov = &g->out_iov[i];
  g->out_msgs[i].msg_hdr.msg_iovlen = 1;
  /* copied: a held datagram's slot may be written again before the answers are sent */
  memcpy(&g->out_to[i], to, to_len);
  g->out_msgs[i].msg_hdr.msg_name = &g->out_to[i];
  g->out_msgs[i].msg_hdr.msg_namelen = to_len;
}

static void answer(gate_socket *g, const raw_head *h, int refusal, const struct sockaddr_storage *to, socklen_t to_len) {
  /* status line, the copied lines (To with our tag on a refusal), the extra lines, no body */
  size_t need = 64 + 2 * MAX_COPIED + 32 + g->tag_bytes_len + (refusal ? g->refusal_extra_len : g->dialog_extra_len);
  for (int i = 0; i < h->lines; i++) need += h->line_len[i] + 2;
  char *start = out_reserve(g, need);
  char *p = start;
  if (refusal) APPEND(p, "SIP/2.0 503 Service Unavailable\r\n", 33);
  else APPEND(p, "SIP/2.0 481 Call/Transaction Does Not Exist\r\n", 45);
  for (int i = 0; i < h->lines; i++) {
    APPEND(p, h->line[i], h->line_len[i]);
    if (refusal && i == h->to && h->tag == NULL) {
      APPEND(p, ";tag=", 5);
      APPEND(p, g->tag_bytes + 1, g->tag_bytes_len - 1);
      *p++ = '.';
      p += write_base36(p, g->tag_counter++);
    }
    APPEND(p, "\r\n", 2);
  }
  if (refusal) APPEND(p, g->refusal_extra, g->refusal_extra_len);
  else APPEND(p, g->dialog_extra, g->dialog_extra_len);
  APPEND(p, "Content-Length: 0\r\n\r\n", 21);
  queue_answer(g, start, need, p, to, to_len);
}

static void send_answers(gate_socket *g) {
  int sent = 0;
  while (sent < g->out_count) {
    int n = sendmmsg(g->fd, g->out_msgs + sent, (unsigned)(g->out_count - sent), MSG_DONTWAIT);
    /* a full send buffer or an unreachable peer loses the answer, as any UDP send may (the
     * client retransmits and is answered again) */
    if (n <= 0) {
      sent++;
      continue;
    }
    sent += n;
  }
  g->out_count = 0;
  g->out_used = 0;
}

/* ---------- the challenge answered here (see plan_challenge) ---------- */

/*
 * The first half of nearly every call under digest authentication is a request without
 * credentials answered with a challenge (407, RFC 3261 §22.3): until session 33 it went to
 * JavaScript, was parsed whole, passed the router's checks and came back as a datagram to send,
 * about a third of a call's JavaScript. Here it is answered where it is read, as a stateless
 * server would (RFC 3261 §8.2.7), from the same configuration (`challenge`): the same lines, a nonce
 * from the same table (nonces.ts: its arrays are shared, and each side makes a nonce as the other
 * would), a To tag of the stack's. What JavaScript needs to see (credentials, a To tag, a method or
 * target it must judge, a loop, anything this look cannot read exactly) goes there as before.
 */

/* methods and local hosts at most; a template's size; the UA cache's slots and longest UA cached */
#define CH_METHODS 4
#define CH_HOSTS 16
#define CH_TEMPLATE 1024
#define UA_SLOTS 256
#define UA_MAX 120
/* the nonce marker in a template (replaced by the nonce's text) */
#define NONCE_MARK '\x01'
/* nonces in a template at most */
#define MAX_MARKS 4
/* answers remembered for retransmissions: sets of two slots (as at-once-memo.ts) */
#define MEMO_SETS (1u << 19)
#define POOL_WORDS 2048

typedef struct {
  double expires;
  uint32_t branch;
  uint32_t key;
  double tag;
  double serial;
} memo_slot;

typedef struct {
  uint32_t hash;
  uint16_t len;
  uint8_t all;
  char bytes[UA_MAX];
} ua_entry;

typedef struct challenge_cfg {
  char methods[CH_METHODS][24];
  size_t method_len[CH_METHODS];
  int methods_n;
  char hosts[CH_HOSTS][256];
  size_t host_len[CH_HOSTS];
  int hosts_n;
  /* a Via with a branch of ours anywhere in the head: a loop (RFC 3261 §16.3 step 4), JavaScript's */
  char own_branch[80];
  size_t own_branch_len;
  /* our To tag: `<prefix>.<counter>` (the stack's tags are its prefix and base 36 digits, no `.`) */
  char tag_prefix[64];
  size_t tag_prefix_len;
  char status[96];
  size_t status_len;
  /* the lines after the copied ones, NONCE_MARK for the nonce: [0] for most clients, [1] for one
   * `offers_all` says chooses among several challenges */
  char lines[2][CH_TEMPLATE];
  size_t lines_len[2];
  napi_ref offers_all;
  ua_entry *ua;
  int force_rport;
  double remember_ms;
  /* the parser's limits (ParseLimits): past them its 413 or 513 is the answer */
  size_t max_message;
  size_t max_body;
  /* the nonce table (nonces.ts), shared: made[0] is its next serial */
  uint32_t *tok_hi, *tok_lo, *issued, *counts;
  double *made;
  size_t slots;
  double lifetime_ms;
  napi_ref refs[5];
  uint32_t pool[POOL_WORDS];
  int pool_at;
  memo_slot *memo;
  uint32_t seed;
  double tag_counter;
  /* challenges sent since `takeChallenged`, by method, not counting those sent again */
  double challenged[CH_METHODS];
} challenge_cfg;

static double wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- nonces (nonces.ts: make, text) ---- */

static double nonce_make(challenge_cfg *c) {
  double serial = c->made[0];
  c->made[0] = serial + 1;
  size_t slot = (size_t)fmod(serial, (double)c->slots);
  if (c->pool_at >= POOL_WORDS - 1) {
    size_t got = 0;
    while (got < sizeof c->pool) {
      ssize_t r = getrandom((char *)c->pool + got, sizeof c->pool - got, 0);
      if (r > 0) got += (size_t)r;
      else if (errno != EINTR) abort(); /* no randomness: no nonce may be made (never on Linux >= 3.17) */
    }
    c->pool_at = 0;
  }
  c->tok_hi[slot] = c->pool[c->pool_at++];
  c->tok_lo[slot] = c->pool[c->pool_at++];
  c->issued[slot] = (uint32_t)floor(wall_ms() / 1000);
  c->counts[slot] = 0;
  return serial;
}

/* whether the nonce of `serial` is held and has time left (nonces.ts `text`) */
static int nonce_held(const challenge_cfg *c, double serial) {
  double made = c->made[0];
  if (serial < 0 || serial >= made || serial < made - (double)c->slots) return 0;
  size_t slot = (size_t)fmod(serial, (double)c->slots);
  return wall_ms() - (double)c->issued[slot] * 1000 <= c->lifetime_ms;
}

static size_t write_u64(char *p, uint64_t v) {
  char num[24];
  int k = 0;
  do {
    num[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  size_t n = (size_t)k;
  while (k > 0) *p++ = num[--k];
  return n;
}

/* `serial.high.low` in decimal, as nonces.ts writes it */
static size_t nonce_text(const challenge_cfg *c, double serial, char *out) {
  size_t slot = (size_t)fmod(serial, (double)c->slots);
  size_t n = write_u64(out, (uint64_t)serial);
  out[n++] = '.';
  n += write_u64(out + n, c->tok_hi[slot]);
  out[n++] = '.';
  n += write_u64(out + n, c->tok_lo[slot]);
  return n;
}

/* ---- the memo of challenges sent (at-once-memo.ts) ---- */

/* the branch's hash that picks its memo set: FNV-1a from a per-process seed, then mixed, as
 * completed-responses.ts `seededHash` (branches are chosen by whoever sends requests: without the
 * seed a sender could aim many at one set and push out the challenges others' retransmissions need) */
static uint32_t memo_hash(const challenge_cfg *c, const char *p, size_t n) {
  uint32_t h = c->seed;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 16777619u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static memo_slot *memo_find(challenge_cfg *c, uint32_t branch, uint32_t key, double now) {
  memo_slot *set = c->memo + (size_t)(branch & (MEMO_SETS - 1)) * 2;
  for (int w = 0; w < 2; w++)
    if (set[w].expires > now && set[w].branch == branch && (key == 0 || set[w].key == key)) return &set[w];
  return NULL;
}

static memo_slot *memo_put(challenge_cfg *c, uint32_t branch, double now) {
  memo_slot *set = c->memo + (size_t)(branch & (MEMO_SETS - 1)) * 2;
  /* an expired slot, else the one that expires first */
  memo_slot *s = set[0].expires <= now ? &set[0] : set[1].expires <= now ? &set[1] : set[0].expires <= set[1].expires ? &set[0] : &set[1];
  s->branch = branch;
  s->expires = now + c->remember_ms;
  return s;
}

/* what tells one request on a branch from another: its Via, Call-ID and CSeq lines (the key's
 * sent-by, Call-ID and CSeq, raw-key.ts; 0 never: 0 asks memo_find for any key) */
static uint32_t key_of(const raw_head *h) {
  uint32_t k = 2166136261u;
  for (int i = 0; i < h->lines; i++) {
    if (h->line_kind[i] != K_VIA && h->line_kind[i] != K_CALLID && h->line_kind[i] != K_CSEQ) continue;
    for (size_t j = 0; j < h->line_len[i]; j++) {
      k ^= (unsigned char)h->line[i][j];
      k *= 16777619u;
    }
  }
  return k == 0 ? 1 : k;
}

/* ---- which clients are offered every algorithm (Authenticator.algorithmsFor) ---- */

/* 1 when the client of this User-Agent chooses among several challenges: JavaScript's patterns
 * decide, once per User-Agent while the cache keeps it */
static int offers_all(gate_socket *g, challenge_cfg *c, const char *ua, size_t len) {
  if (c->offers_all == NULL || ua == NULL) return 0;
  uint32_t hash = hash_bytes(ua, len);
  ua_entry *e = &c->ua[hash & (UA_SLOTS - 1)];
  if (len <= UA_MAX && e->hash == hash && e->len == len && memcmp(e->bytes, ua, len) == 0) return e->all;
  napi_env env = g->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value fn, recv, arg, result;
  bool all = false;
  if (napi_get_reference_value(env, c->offers_all, &fn) == napi_ok && napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_string_utf8(env, ua, len, &arg) == napi_ok && napi_call_function(env, recv, fn, 1, &arg, &result) == napi_ok)
    napi_get_value_bool(env, result, &all);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    all = false;
  }
  napi_close_handle_scope(env, scope);
  if (len <= UA_MAX) {
    e->hash = hash;
    e->len = (uint16_t)len;
    e->all = all ? 1 : 0;
    memcpy(e->bytes, ua, len);
  }
  return all ? 1 : 0;
}

/* ---- whether a request is one to challenge here, and how ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* decimal digits only, at most 10 of them, into *v */
static int read_number(const char *p, size_t n, uint64_t *v) {
  if (n == 0 || n > 10) return 0;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(p[i])) return 0;
    x = x * 10 + (uint64_t)(p[i] - '0');
  }
  *v = x;
  return 1;
}

static int host_char(char c) { return is_alnum(c) || c == '.' || c == '-'; }

/*
 * What the parser would take (uri.ts, name-addr.ts, parser.ts), read no further than this look
 * needs: each check below accepts a part of what those accept and nothing else, so that a request
 * challenged here is one the stack would challenge too. Anything past that part (an IPv6 host, a
 * password, URI headers, a quoted pair, a Contact, a Date) is the stack's to judge.
 */

/* a character of a URI part other than `%HH` (uri.ts USER, PARAM) */
static int uri_char(char c, const char *extra) { return is_alnum(c) || (c != 0 && (strchr("-_.!~*'()", c) != NULL || strchr(extra, c) != NULL)); }

/* p[0, n) made of `extra`'s characters and %HH escapes, not empty */
static int uri_part_ok(const char *p, size_t n, const char *extra) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '%') {
      if (i + 2 >= n || !isxdigit((unsigned char)p[i + 1]) || !isxdigit((unsigned char)p[i + 2])) return 0;
      i += 2;
    } else if (!uri_char(p[i], extra)) {
      return 0;
    }
  }
  return 1;
}

/* a hostname or IPv4 address (uri.ts hostnameShape): labels of letters, digits and inner hyphens
 * joined by single dots, one dot at the end allowed */
static int hostname_ok(const char *h, size_t n) {
  if (n == 0) return 0;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (i == label || h[i - 1] == '-') return 0;
      label = i + 1;
    } else if (c == '-') {
      if (i == label) return 0;
    } else if (!is_alnum(c)) {
      return 0;
    }
  }
  if (label == n) return label > 0;
  return h[n - 1] != '-';
}

/* a SIP or SIPS URI with no password, no IPv6 host and no headers; its host (and whether it has a user) */
static int uri_ok(const char *u, size_t n, const char **host, size_t *host_len, int *has_user) {
  size_t i;
  if (n > 4 && name_is(u, 4, "sip:")) i = 4;
  else if (n > 5 && name_is(u, 5, "sips:")) i = 5;
  else return 0;
  const char *rest = u + i;
  size_t rn = n - i;
  const char *at = memchr(rest, '@', rn);
  size_t from = 0;
  *has_user = at != NULL;
  if (at != NULL) {
    size_t user_len = (size_t)(at - rest);
    if (memchr(rest, ':', user_len) != NULL || !uri_part_ok(rest, user_len, "&=+$,;?/")) return 0;
    from = user_len + 1;
  }
  if (memchr(rest + from, '?', rn - from) != NULL) return 0;
  const char *semi = memchr(rest + from, ';', rn - from);
  size_t host_end = semi != NULL ? (size_t)(semi - rest) : rn;
  const char *hp = rest + from;
  size_t hp_len = host_end - from;
  if (hp_len == 0 || hp[0] == '[') return 0;
  const char *colon = memchr(hp, ':', hp_len);
  size_t hn = colon != NULL ? (size_t)(colon - hp) : hp_len;
  if (!hostname_ok(hp, hn)) return 0;
  if (colon != NULL) {
    uint64_t port;
    size_t pn = hp_len - hn - 1;
    if (pn > 5 || !read_number(colon + 1, pn, &port) || port > 65535) return 0;
  }
  *host = hp;
  *host_len = hn;
  /* `;name[=value]`, each part of PARAM's characters and not empty */
  size_t k = host_end;
  while (k < rn) {
    size_t start = ++k;
    while (k < rn && rest[k] != ';') k++;
    const char *eq = memchr(rest + start, '=', k - start);
    size_t name_len = eq != NULL ? (size_t)(eq - rest) - start : k - start;
    if (!uri_part_ok(rest + start, name_len, "[]/:&+$")) return 0;
    if (eq != NULL && !uri_part_ok(eq + 1, (size_t)(rest + k - eq - 1), "[]/:&+$")) return 0;
  }
  return 1;
}

/*
 * One `;name[=value]` header parameter at v[*i], as params.ts readParams reads it: blanks around
 * `;` and `=`, the name a token, the value a token or `:`s (readGenValue: an unbracketed IPv6
 * received=), nothing quoted or bracketed (left to the parser). 1, with *i past it, the name's
 * span and whether it has a value; 0 when only blanks are left; -1 for anything else.
 */
static int read_param(const char *v, size_t n, size_t *i, size_t *name, size_t *name_len, int *valued) {
  size_t k = *i;
  while (k < n && is_blank(v[k])) k++;
  if (k == n) return 0;
  if (v[k++] != ';') return -1;
  while (k < n && is_blank(v[k])) k++;
  *name = k;
  while (k < n && is_token_char(v[k])) k++;
  *name_len = k - *name;
  if (*name_len == 0) return -1;
  size_t j = k;
  while (j < n && is_blank(v[j])) j++;
  *valued = j < n && v[j] == '=';
  if (*valued) {
    j++;
    while (j < n && is_blank(v[j])) j++;
    size_t value = j;
    while (j < n && (is_token_char(v[j]) || v[j] == ':')) j++;
    if (j == value) return -1;
    k = j;
  }
  *i = k;
  return 1;
}

/* header parameters from v[i] to the end (read_param) */
static int params_ok(const char *v, size_t n, size_t i) {
  size_t name, name_len;
  int valued, r;
  while ((r = read_param(v, n, &i, &name, &name_len, &valued)) > 0) continue;
  return r == 0;
}

/* a From or To value: `["display" | tokens] <uri>;params` or `uri;params` (name-addr.ts) */
static int name_addr_ok(const char *v, size_t n) {
  size_t i = 0;
  const char *host;
  size_t hl;
  int user;
  if (n > 0 && v[0] == '"') {
    for (i = 1; i < n && v[i] != '"'; i++)
      if (v[i] == '\\' || (unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f) return 0;
    if (i == n) return 0;
    i++;
    while (i < n && is_blank(v[i])) i++;
  } else if (n > 0 && v[0] != '<') {
    while (i < n && (is_token_char(v[i]) || is_blank(v[i]))) i++;
    if (i == n || v[i] != '<') {
      /* a bare URI: to the first `;`, `,` or blank, no `?` in it */
      size_t e = 0;
      while (e < n && v[e] != ';' && v[e] != ',' && !is_blank(v[e])) e++;
      if (memchr(v, '?', e) != NULL || !uri_ok(v, e, &host, &hl, &user)) return 0;
      return params_ok(v, n, e);
    }
  }
  if (i == n || v[i] != '<') return 0;
  const char *close = memchr(v + i, '>', n - i);
  if (close == NULL) return 0;
  size_t inner = i + 1, inner_len = (size_t)(close - v) - inner;
  for (size_t k = inner; k < inner + inner_len; k++)
    if (is_blank(v[k])) return 0;
  if (!uri_ok(v + inner, inner_len, &host, &hl, &user)) return 0;
  return params_ok(v, n, (size_t)(close - v) + 1);
}

/* the Request-URI names one of our users: a `sip:` URI with a user, its host ours (Router.answerAtOnce) */
static int target_is_ours(const challenge_cfg *c, const char *u, size_t n) {
  const char *host;
  size_t host_len;
  int user;
  if (n < 4 || memcmp(u, "sip:", 4) != 0 || !uri_ok(u, n, &host, &host_len, &user) || !user) return 0;
  for (int k = 0; k < c->hosts_n; k++)
    if (c->host_len[k] == host_len && name_is(host, host_len, c->hosts[k])) return 1;
  return 0;
}

/* a Content-Type value as parser.ts takes it: type/subtype of its token characters, then `;…` */
static int ctype_char(char c) { return is_alnum(c) || (c != 0 && strchr("!#$%&'*+.^_`|~-", c) != NULL); }

static int content_type_ok(const char *v, size_t n) {
  size_t i = 0;
  while (i < n && ctype_char(v[i])) i++;
  if (i == 0 || i == n || v[i] != '/') return 0;
  size_t t = ++i;
  while (i < n && ctype_char(v[i])) i++;
  if (i == t) return 0;
  while (i < n && is_blank(v[i])) i++;
  if (i < n && v[i] != ';') return 0;
  /* `;.*`: the pattern's `.` takes no line terminator (U+2028, U+2029): only ASCII is read here */
  for (; i < n; i++)
    if ((unsigned char)v[i] >= 0x80) return 0;
  return 1;
}

/* a Require or Supported value: tokens separated by commas */
static int token_list_ok(const char *v, size_t n) {
  size_t i = 0;
  for (;;) {
    while (i < n && is_blank(v[i])) i++;
    size_t t = i;
    while (i < n && is_token_char(v[i])) i++;
    if (i == t) return 0;
    while (i < n && is_blank(v[i])) i++;
    if (i == n) return 1;
    if (v[i++] != ',') return 0;
  }
}

/* what the answer to a request challenged here needs beyond its raw head */
typedef struct {
  /* the top Via line: whether it is stamped (RFC 3581 rport, RFC 3261 §18.2.1 received), where
   * its text is cut (after sent-by) and each parameter's span; the address and port to send to */
  int via_line;
  int stamp;
  size_t via_head_len;
  const char *param[16];
  size_t param_len[16];
  int param_rport_empty[16];
  int params;
  char received[INET6_ADDRSTRLEN];
  uint16_t src_port;
  struct sockaddr_storage to;
  socklen_t to_len;
  int all;
  /* the method's index in `methods` */
  int method;
} challenge_plan;

/*
 * The top Via: `SIP/2.0/UDP host[:port]` and `;name[=value]` parameters, nothing quoted, one
 * value on its line. Its response goes to the source address, at the source port with rport
 * (RFC 3581 §4) or `force_rport`, else at the Via's port (RFC 3261 §18.2.2, as Stack.responseDestination).
 */
static int plan_via(const challenge_cfg *c, const raw_head *h, const struct sockaddr_storage *from, socklen_t from_len, challenge_plan *pl) {
  int li = -1;
  for (int i = 0; i < h->lines; i++)
    if (h->line_kind[i] == K_VIA) {
      li = i;
      break;
    }
  if (li < 0) return 0;
  const char *line = h->line[li];
  size_t n = h->line_len[li];
  const char *colon = memchr(line, ':', n);
  if (colon == NULL) return 0;
  size_t i = (size_t)(colon + 1 - line);
  while (i < n && is_blank(line[i])) i++;
  if (n - i < 12 || !name_is(line + i, 11, "sip/2.0/udp") || !is_blank(line[i + 11])) return 0;
  i += 11;
  while (i < n && is_blank(line[i])) i++;
  size_t host = i;
  while (i < n && host_char(line[i])) i++;
  size_t host_len = i - host;
  if (!hostname_ok(line + host, host_len)) return 0;
  uint64_t via_port = 5060;
  if (i < n && line[i] == ':') {
    size_t p = ++i;
    while (i < n && is_digit(line[i])) i++;
    if (!read_number(line + p, i - p, &via_port) || via_port == 0 || via_port > 65535) return 0;
  }
  pl->via_line = li;
  pl->via_head_len = i;
  pl->params = 0;
  int rport = 0;
  for (;;) {
    size_t at = i, name, name_len;
    int valued, r = read_param(line, n, &i, &name, &name_len, &valued);
    if (r == 0) break;
    if (r < 0 || pl->params == 16) return 0;
    /* via.ts: a branch must have a value */
    if (!valued && name_len == 6 && name_is(line + name, 6, "branch")) return 0;
    int is_rport = name_len == 5 && name_is(line + name, 5, "rport");
    if (is_rport) rport = 1;
    /* an old received is replaced (Stack: stampedTopVia) */
    if (name_len == 8 && name_is(line + name, 8, "received")) continue;
    pl->param[pl->params] = line + at;
    pl->param_len[pl->params] = i - at;
    pl->param_rport_empty[pl->params] = is_rport && !valued;
    pl->params++;
  }
  /* the source address as JavaScript is given it (deliver) */
  address_text(from, pl->received, sizeof pl->received);
  size_t rlen = strlen(pl->received);
  pl->stamp = rport || !(rlen == host_len && name_is(line + host, host_len, pl->received));
  memcpy(&pl->to, from, from_len);
  pl->to_len = from_len;
  pl->src_port = port_of(from);
  if (!rport && !c->force_rport) {
    uint16_t port = htons((uint16_t)via_port);
    if (pl->to.ss_family == AF_INET6) ((struct sockaddr_in6 *)&pl->to)->sin6_port = port;
    else ((struct sockaddr_in *)&pl->to)->sin_port = port;
  }
  return 1;
}

/*
 * Whether a request read here is one the stack would answer at once with the challenge
 * (Stack.answerAtOnce, Router.answerAtOnce, proxyChallengeAtOnce): a configured method, no
 * credentials (Authorization or Proxy-Authorization) and no To tag; addressed to a user of ours;
 * no Max-Forwards of 0, no branch of ours (a loop), no Proxy-Require (RFC 3261 §16.3 steps 3 to 5).
 * And one this look reads exactly: `METHOD sip:… SIP/2.0`, one From, To, Call-ID and CSeq (its
 * method the request's), a Content-Length, when there is one, that is the body's. The parser
 * judges the rest of the request when it comes back with credentials: a request malformed in a
 * line read nowhere here is refused then, one round trip later (what a stateless proxy in front
 * of a registrar does too).
 */
static int plan_challenge(gate_socket *g, const char *buf, size_t n, const raw_head *h, const struct sockaddr_storage *from, socklen_t from_len, challenge_plan *pl) {
  challenge_cfg *c = g->ch;
  if (h->credentials || h->tag != NULL || h->body == 0 || h->bad_name || n > c->max_message || n - h->body > c->max_body) return 0;
  int m = 0;
  while (m < c->methods_n && !(h->method_len == c->method_len[m] && memcmp(h->method, c->methods[m], h->method_len) == 0)) m++;
  if (m == c->methods_n) return 0;
  pl->method = m;
  /* the header section: CRLF line ends only, no other control character (parser.ts splits at CRLF) */
  for (size_t i = 0; i + 2 < h->body; i++) {
    unsigned char ch = (unsigned char)buf[i];
    if (ch >= 0x20 || ch == '\t') continue;
    if (ch == '\r' && buf[i + 1] == '\n') {
      i++;
      continue;
    }
    return 0;
  }
  const char *eol = memchr(buf, '\r', n);
  const char *uri = h->method + h->method_len + 1;
  if (eol == NULL || eol - uri < 9 || memcmp(eol - 8, " SIP/2.0", 8) != 0) return 0;
  /* Request-Line = Method SP Request-URI SP SIP-Version (single spaces, RFC 3261 §25.1) */
  for (size_t i = 0; i < h->method_len; i++)
    if (!is_token_char(h->method[i])) return 0;
  if (memchr(uri, ' ', (size_t)(eol - 8 - uri)) != NULL || !target_is_ours(c, uri, (size_t)(eol - 8 - uri))) return 0;
  if (h->count[K_VIA] != 1 || h->count[K_FROM] != 1 || h->count[K_TO] != 1 || h->count[K_CALLID] != 1 || h->count[K_CSEQ] != 1 || h->count[K_PROXY_REQUIRE] > 0) return 0;
  if (h->count[K_UNREAD] > 0 || h->count[K_SINGLE] > 1 || h->count[K_CTYPE] > 1 || h->count[K_EXPIRES] > 1 || h->count[K_TOKENS] > 1) return 0;
  if (h->count[K_CTYPE] == 1 && !content_type_ok(h->value[K_CTYPE], h->value_len[K_CTYPE])) return 0;
  if (h->count[K_TOKENS] == 1 && !token_list_ok(h->value[K_TOKENS], h->value_len[K_TOKENS])) return 0;
  if (h->count[K_EXPIRES] == 1) {
    if (h->value_len[K_EXPIRES] == 0) return 0;
    for (size_t i = 0; i < h->value_len[K_EXPIRES]; i++)
      if (!is_digit(h->value[K_EXPIRES][i])) return 0;
  }
  if (!name_addr_ok(h->value[K_FROM], h->value_len[K_FROM]) || !name_addr_ok(h->value[K_TO], h->value_len[K_TO])) return 0;
  if (h->value_len[K_CALLID] == 0) return 0;
  /* no white space (checkCommon's /\s/: beyond ASCII too, so only ASCII is read here) */
  for (size_t i = 0; i < h->value_len[K_CALLID]; i++)
    if (is_blank(h->value[K_CALLID][i]) || (unsigned char)h->value[K_CALLID][i] >= 0x80) return 0;
  uint64_t v;
  /* parser.ts checkRequest: 1 to 5 digits, at most 255 (0 is the router's 483) */
  if (h->count[K_MAXF] > 0 && (h->count[K_MAXF] > 1 || h->value_len[K_MAXF] > 5 || !read_number(h->value[K_MAXF], h->value_len[K_MAXF], &v) || v == 0 || v > 255)) return 0;
  if (h->count[K_CLEN] > 0 && (h->count[K_CLEN] > 1 || !read_number(h->value[K_CLEN], h->value_len[K_CLEN], &v) || v != n - h->body)) return 0;
  /* CSeq: a number, then the request's method */
  const char *cs = h->value[K_CSEQ];
  size_t cn = h->value_len[K_CSEQ], k = 0;
  while (k < cn && is_digit(cs[k])) k++;
  /* RFC 3261 §8.1.1.5 (message.ts): below 2^31 */
  if (!read_number(cs, k, &v) || v >= 2147483648u) return 0;
  size_t sp = k;
  while (k < cn && is_blank(cs[k])) k++;
  if (k == sp || cn - k != h->method_len || memcmp(cs + k, h->method, h->method_len) != 0) return 0;
  if (c->own_branch_len > 0 && memmem(buf, h->body, c->own_branch, c->own_branch_len) != NULL) return 0;
  if (!plan_via(c, h, from, from_len, pl)) return 0;
  pl->all = c->lines_len[0] != c->lines_len[1] || memcmp(c->lines[0], c->lines[1], c->lines_len[0]) != 0 ? offers_all(g, c, h->value[K_UA], h->value_len[K_UA]) : 0;
  return 1;
}

/* the challenge: its status line, the copied lines (the top Via stamped, To with our tag), the
 * template with the nonce, no body. Queued with the socket's other answers (send_answers). */
static void challenge_answer(gate_socket *g, const raw_head *h, const challenge_plan *pl, double tag, double serial) {
  challenge_cfg *c = g->ch;
  char nonce[48];
  size_t nonce_len = nonce_text(c, serial, nonce);
  const char *tpl = c->lines[pl->all];
  size_t tpl_len = c->lines_len[pl->all];
  size_t need = c->status_len + 2 * MAX_COPIED + c->tag_prefix_len + 32 + INET6_ADDRSTRLEN + 32 + tpl_len + MAX_MARKS * nonce_len + 24;
  for (int i = 0; i < h->lines; i++) need += h->line_len[i] + 2;
  char *start = out_reserve(g, need);
  char *p = start;
  APPEND(p, c->status, c->status_len);
  for (int i = 0; i < h->lines; i++) {
    if (i == pl->via_line && pl->stamp) {
      APPEND(p, h->line[i], pl->via_head_len);
      for (int k = 0; k < pl->params; k++) {
        APPEND(p, pl->param[k], pl->param_len[k]);
        if (pl->param_rport_empty[k]) {
          *p++ = '=';
          p += write_u64(p, pl->src_port);
        }
      }
      APPEND(p, ";received=", 10);
      APPEND(p, pl->received, strlen(pl->received));
    } else {
      APPEND(p, h->line[i], h->line_len[i]);
    }
    if (i == h->to) {
      APPEND(p, ";tag=", 5);
      APPEND(p, c->tag_prefix, c->tag_prefix_len);
      *p++ = '.';
      p += write_base36(p, (uint64_t)tag);
    }
    APPEND(p, "\r\n", 2);
  }
  for (size_t i = 0; i < tpl_len; i++) {
    if (tpl[i] == NONCE_MARK) APPEND(p, nonce, nonce_len);
    else *p++ = tpl[i];
  }
  APPEND(p, "Content-Length: 0\r\n\r\n", 21);
  queue_answer(g, start, need, p, &pl->to, pl->to_len);
}

/* a request challenged here before, answered again (RFC 3261 §17.2.2, as a completed transaction
 * answers its retransmission): the same To tag, and the same nonce while the table holds it
 * (AtOnceMemo's rule; SIPp compares the answers). Callers ask the memo by branch alone first
 * (memo_find with key 0): nearly every request is new, and the key costs a pass over three lines. */
static int challenge_again(gate_socket *g, const char *buf, size_t n, const raw_head *h, uint32_t branch, const struct sockaddr_storage *from, socklen_t from_len, double now) {
  challenge_cfg *c = g->ch;
  memo_slot *s = memo_find(c, branch, key_of(h), now);
  if (s == NULL) return 0;
  challenge_plan pl;
  if (!plan_challenge(g, buf, n, h, from, from_len, &pl)) return 0;
  if (!nonce_held(c, s->serial)) s->serial = nonce_make(c);
  challenge_answer(g, h, &pl, s->tag, s->serial);
  if (g->out_count == BATCH) send_answers(g);
  return 1;
}

/* new work challenged here when plan_challenge says so, and remembered for its retransmissions */
static int challenge_new(gate_socket *g, const char *buf, size_t n, const raw_head *h, uint32_t branch, const struct sockaddr_storage *from, socklen_t from_len, double now) {
  challenge_cfg *c = g->ch;
  challenge_plan pl;
  if (!plan_challenge(g, buf, n, h, from, from_len, &pl)) return 0;
  double tag = c->tag_counter++;
  double serial = nonce_make(c);
  challenge_answer(g, h, &pl, tag, serial);
  memo_slot *s = memo_put(c, branch, now);
  s->key = key_of(h);
  s->tag = tag;
  s->serial = serial;
  c->challenged[pl.method]++;
  g->challenged_here++;
  /* its answer is owed (see owed_room), as for a challenge JavaScript sends (js_send_many) */
  if (g->defer_on) owed_challenge(g, now);
  if (g->out_count == BATCH) send_answers(g);
  return 1;
}

/* the datagram starts with a method challenged here and a space (the cheap look before `look`) */
static int starts_challenged(const challenge_cfg *c, const char *buf, size_t n) {
  for (int m = 0; m < c->methods_n; m++)
    if (n > c->method_len[m] && memcmp(buf, c->methods[m], c->method_len[m]) == 0 && buf[c->method_len[m]] == ' ') return 1;
  return 0;
}

static void challenge_free(challenge_cfg *c) {
  if (c == NULL) return;
  free(c->memo);
  free(c->ua);
  free(c);
}

static void challenge_unref(napi_env env, challenge_cfg *c);

/* a configuration let go of: its references, then its memory */
static void challenge_drop(napi_env env, challenge_cfg *c) {
  challenge_unref(env, c);
  challenge_free(c);
}

/* ---------- new work held back (judge holds, admit_held lets it start) ---------- */

/* the held datagram in slot `idx` answered 503, as judge refuses (its lines looked at again) */
static void refuse_held(gate_socket *g, size_t idx, double now) {
  held_rec *r = &g->held[idx];
  raw_head h;
  g->refused++;
  g->last_refusal_at = now;
  if (!look(g->held_bytes + idx * HELD_MAX, r->len, &h)) return;
  answer(g, &h, 1, &r->from, r->from_len);
  if (g->out_count == BATCH) send_answers(g);
}

/* the oldest held datagram refused and let go of */
static void refuse_oldest(gate_socket *g, double now) {
  refuse_held(g, g->held_head, now);
  g->held_head = (g->held_head + 1) % HELD_SLOTS;
  g->held_count--;
}

/* held longer than the longest wait: refused, oldest first */
static void expire_held(gate_socket *g, double now) {
  while (g->held_count > 0 && now - g->held[g->held_head].at > g->max_wait_ms) refuse_oldest(g, now);
  if (g->out_count > 0) send_answers(g);
}

/* datagram i of the batch just read goes to the held ring (all slots taken: the oldest is refused) */
static void hold(gate_socket *g, int i, int has_branch, uint32_t hash, uint32_t mh, double now) {
  if (g->held_count == HELD_SLOTS) refuse_oldest(g, now);
  size_t idx = (g->held_head + g->held_count) % HELD_SLOTS;
  held_rec *r = &g->held[idx];
  r->len = g->msgs[i].msg_len;
  r->has_branch = has_branch;
  r->hash = hash;
  r->memo_hash = mh;
  r->from_len = g->msgs[i].msg_hdr.msg_namelen;
  r->at = now;
  memcpy(&r->from, &g->from[i], r->from_len);
  memcpy(g->held_bytes + idx * HELD_MAX, g->bufs + (size_t)i * DGRAM_MAX, r->len);
  g->held_count++;
}

/* ---------- the gate ---------- */

static int tag_is(const gate_socket *g, const raw_head *h) {
  size_t a = g->tag_bytes_len - 1;
  return h->tag != NULL && a > 0 && h->tag_len >= a && memcmp(h->tag, g->tag_bytes + 1, a) == 0;
}

/* what judge decided: passed on to JavaScript (to be judged there, if at all), answered, taken or
 * held here, or passed on as new work admitted here (too large to hold) */
enum verdict { PASS = 0, HANDLED = 1, ADMITTED = 2 };

static enum verdict judge(gate_socket *g, const char *buf, size_t n, int i, double now) {
  /* the queue probe, and nothing SIP */
  if (n == 0 || buf[0] == 0) return PASS;
  challenge_cfg *c = g->ch;
  /* refusals only once `configure` gave the answers' lines */
  int refusing = g->tag_bytes_len >= 2;
  if (!refusing && c == NULL) return PASS;
  int holding = refusing && g->defer_on;
  int after = refusing && !holding && now - g->last_refusal_at <= g->dialog_after_ms;
  const struct sockaddr_storage *from = &g->from[i];
  socklen_t from_len = g->msgs[i].msg_hdr.msg_namelen;
  const char *branch = NULL;
  size_t branch_len = 0;
  int has_branch = 0;
  uint32_t hash = 0;
  raw_head h;
  if (!holding) {
    if (n >= 4 && memcmp(buf, "SIP/", 4) == 0) return PASS;
    has_branch = raw_branch(buf, n, &branch, &branch_len);
    if (has_branch) hash = hash_bytes(branch, branch_len);
    if (c != NULL && has_branch) {
      /* challenged here: answered here, again for a retransmission */
      int looked = -1;
      uint32_t mh = memo_hash(c, branch, branch_len);
      if (memo_find(c, mh, 0, now) != NULL && (looked = look(buf, n, &h)) && challenge_again(g, buf, n, &h, mh, from, from_len, now)) return HANDLED;
      if (starts_challenged(c, buf, n)) {
        if (looked < 0) looked = look(buf, n, &h);
        if (looked && challenge_new(g, buf, n, &h, mh, from, from_len, now)) return HANDLED;
      }
    }
    if (!refusing) return PASS;
    /* remembered, so that its retransmission goes on if holding starts meanwhile */
    if (has_branch) {
      rotate_generations(g, now);
      set_put(&g->cur, hash);
    }
    /* a refusal's "dialog" after holding stopped: only a datagram with our tag's bytes is looked at */
    if (!after) return PASS;
    if (find(buf, n, g->tag_bytes, g->tag_bytes_len) == NULL) return PASS;
  }
  if (!look(buf, n, &h)) return PASS;
  if (tag_is(g, &h)) {
    /* inside no dialog: 481 (RFC 3261 §12.2.2); an ACK of a refused INVITE taken (§17.1.1.3) */
    if (!method_is(&h, "ACK")) answer(g, &h, 0, from, from_len);
    g->answered_in_dialog++;
    return HANDLED;
  }
  if (!holding) return PASS;
  /* what finishes something begun, and REGISTER (refused only once the guard's rate is at its
   * floor, which JavaScript decides): always passed on, so never remembered either */
  if (h.credentials) owed_credit(g, now);
  if (h.credentials || h.tag != NULL || method_is(&h, "ACK") || method_is(&h, "CANCEL") || method_is(&h, "REGISTER")) return PASS;
  has_branch = raw_branch(buf, n, &branch, &branch_len);
  hash = has_branch ? hash_bytes(branch, branch_len) : 0;
  uint32_t mh = c != NULL && has_branch ? memo_hash(c, branch, branch_len) : 0;
  if (has_branch) {
    /* challenged here before: answered again at once, as a transaction answers its retransmission */
    if (c != NULL && memo_find(c, mh, 0, now) != NULL && challenge_again(g, buf, n, &h, mh, from, from_len, now)) return HANDLED;
    rotate_generations(g, now);
    if (set_has(&g->cur, hash) || set_has(&g->prev, hash)) return PASS; /* a retransmission: its transaction answers */
  }
  g->judged++;
  /* too large to hold: started now, as new work admitted */
  if (n > HELD_MAX) {
    g->admitted++;
    if (c != NULL && has_branch && challenge_new(g, buf, n, &h, mh, from, from_len, now)) return HANDLED;
    owed_start(g, now);
    if (has_branch) set_put(&g->cur, hash);
    return ADMITTED;
  }
  hold(g, i, has_branch, hash, mh, now);
  return HANDLED;
}

/* ---------- reading ---------- */

static void deliver(gate_socket *g, int passed) {
  napi_env env = g->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t total = 0;
  for (int k = 0; k < passed; k++) total += g->msgs[g->pass_index[k]].msg_len;
  void *data = NULL;
  napi_value buffer, addresses, fn, recv, argv[3], result;
  if (napi_create_buffer(env, total == 0 ? 1 : total, &data, &buffer) != napi_ok || napi_create_array(env, &addresses) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  size_t off = 0;
  uint32_t naddr = 0;
  const struct sockaddr_storage *last = NULL;
  socklen_t last_len = 0;
  for (int k = 0; k < passed; k++) {
    int i = g->pass_index[k];
    size_t len = g->msgs[i].msg_len;
    memcpy((char *)data + off, g->bufs + (size_t)i * DGRAM_MAX, len);
    const struct sockaddr_storage *sa = &g->from[i];
    socklen_t sa_len = g->msgs[i].msg_hdr.msg_namelen;
    int port = 0;
    if (last == NULL || sa_len != last_len || memcmp(sa, last, sa_len) != 0) {
      char text[INET6_ADDRSTRLEN] = "";
      address_text(sa, text, sizeof text);
      napi_value s;
      napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, addresses, naddr++, s);
      last = sa;
      last_len = sa_len;
    }
    port = port_of(sa);
    int32_t *m = g->meta + (size_t)k * META_FIELDS;
    m[0] = (int32_t)off;
    m[1] = (int32_t)len;
    m[2] = port;
    m[3] = (int32_t)(naddr - 1);
    m[4] = g->pass_admitted[k];
    off += len;
  }
  argv[1] = NULL;
  napi_create_int32(env, passed, &argv[1]);
  argv[0] = buffer;
  argv[2] = addresses;
  napi_get_reference_value(env, g->on_batch, &fn);
  /* an object: make_callback converts its receiver with ToObject, which undefined fails */
  napi_get_global(env, &recv);
  /* make_callback, not call_function: the microtasks and next-tick callbacks the batch queued
   * run when it returns, as after any of node's own I/O callbacks */
  napi_make_callback(env, g->async, recv, fn, 3, argv, &result);
  /* what the batch threw goes where an exception in node's own I/O callbacks goes: 'uncaughtException' */
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_idle(uv_idle_t *handle);
static void on_wake(uv_timer_t *handle);

static void idle_stop(gate_socket *g) {
  if (!g->idle_active) return;
  uv_idle_stop(&g->idle);
  g->idle_active = 0;
}

static void wake_stop(gate_socket *g) {
  if (!g->wake_active) return;
  uv_timer_stop(&g->wake);
  g->wake_active = 0;
}

/*
 * What runs held work on while something is held. The idle handle, each turn of the loop (which
 * then does not sleep), while held work can start as soon as the loop has time. While the
 * challenges owed keep it back (`owed`), nothing in this process can let it start but time (a
 * challenge owed no more, a slot of the window later) or a request with credentials read (and a
 * read runs admit_held itself): then a timer, at the window's next slot or the oldest held
 * request's longest wait, whichever comes first. The idle handle there would spin the loop at a
 * whole core until then: a client sending new work it never authenticates, 10,000 requests a
 * second, kept the process 100% busy while it challenged 7,850 of them a second (session 30).
 */
static void hold_update(gate_socket *g, int owed) {
  if (g->closed) return;
  if (g->held_count == 0) {
    idle_stop(g);
    wake_stop(g);
  } else if (owed) {
    idle_stop(g);
    double now = now_ms();
    double at = g->owed_at + OWED_SLOT_MS;
    double expires = g->held[g->held_head].at + g->max_wait_ms;
    if (expires < at) at = expires;
    /* libuv's timers count whole milliseconds from the loop's cached time: rounded up, never 0 */
    double ms = ceil(at - now);
    uv_timer_start(&g->wake, on_wake, ms < 1 ? 1 : (uint64_t)ms, 0);
    g->wake_active = 1;
  } else {
    wake_stop(g);
    if (!g->idle_active) {
      uv_idle_start(&g->idle, on_idle);
      g->idle_active = 1;
    }
  }
}

/* held work not kept back by the challenges owed: as before (`hold_update`) */
static void idle_update(gate_socket *g) { hold_update(g, 0); }

/*
 * Held new work passed on, newest first (a batch at a time, each in the order it came), for at most
 * the budget from `started`. Newest first, because the oldest are refused as they pass the longest
 * wait: under a flood every one admitted has waited little, and a backlog left by a pause is served
 * from its fresh end while its stale end, whose clients are nearest to retransmitting (T1, RFC 3261
 * §17.1.2.2), is answered 503. Oldest first, every request admitted under a flood would have waited
 * nearly the longest wait.
 */
static void admit_held(gate_socket *g, double started) {
  double now = now_ms();
  int owed = 0;
  expire_held(g, now);
  while (g->held_count > 0 && !g->closed && now - started < g->budget_ms) {
    size_t room = owed_room(g, now);
    if (room == 0) {
      owed = 1;
      break;
    }
    /* the newest batch, in the order it came: nothing is reordered while all that is held fits */
    int take = g->held_count < BATCH ? (int)g->held_count : BATCH;
    if ((size_t)take > room) take = (int)room;
    size_t first = g->held_count - (size_t)take;
    int passed = 0;
    for (int k = 0; k < take; k++) {
      size_t idx = (g->held_head + first + (size_t)k) % HELD_SLOTS;
      held_rec *r = &g->held[idx];
      const char *bytes = g->held_bytes + idx * HELD_MAX;
      raw_head h;
      /* a copy of one challenged here since it was held: answered again */
      int looked = -1;
      if (g->ch != NULL && r->has_branch && memo_find(g->ch, r->memo_hash, 0, now) != NULL && (looked = look(bytes, r->len, &h)) &&
          challenge_again(g, bytes, r->len, &h, r->memo_hash, &r->from, r->from_len, now))
        continue;
      /* a copy of one passed on since it was held: passed on as its retransmission */
      int again = r->has_branch && (set_has(&g->cur, r->hash) || set_has(&g->prev, r->hash));
      if (!again) {
        g->admitted++;
        if (g->ch != NULL && r->has_branch) {
          if (looked < 0) looked = look(bytes, r->len, &h);
          if (looked && challenge_new(g, bytes, r->len, &h, r->memo_hash, &r->from, r->from_len, now)) continue;
        }
        owed_start(g, now);
        if (r->has_branch) set_put(&g->cur, r->hash);
      }
      memcpy(g->bufs + (size_t)passed * DGRAM_MAX, bytes, r->len);
      g->msgs[passed].msg_len = r->len;
      memcpy(&g->from[passed], &r->from, r->from_len);
      g->msgs[passed].msg_hdr.msg_namelen = r->from_len;
      g->pass_index[passed] = passed;
      g->pass_admitted[passed] = !again;
      passed++;
    }
    g->held_count = first;
    if (g->out_count > 0) send_answers(g);
    if (passed > 0) deliver(g, passed);
    now = now_ms();
  }
  hold_update(g, owed);
}

static void on_wake(uv_timer_t *handle) {
  gate_socket *g = handle->data;
  g->wake_active = 0;
  if (g->closed) return;
  admit_held(g, now_ms());
}

static void on_idle(uv_idle_t *handle) {
  gate_socket *g = handle->data;
  if (g->closed) return;
  /* the socket was read in the last turn, and held work had its share of that turn there */
  if (g->read_since_idle) {
    g->read_since_idle = 0;
    expire_held(g, now_ms());
    return;
  }
  admit_held(g, now_ms());
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  gate_socket *g = handle->data;
  if (status < 0 || g->closed) return;
  double started = now_ms();
  /* whether everything that had come was read (the last read found fewer than a batch) */
  int drained = 0;
  int rounds = g->defer_on ? HOLDING_READS : READS_PER_WAKE;
  for (int round = 0; round < rounds && !g->closed; round++) {
    for (int i = 0; i < BATCH; i++) {
      g->iov[i].iov_base = g->bufs + (size_t)i * DGRAM_MAX;
      g->iov[i].iov_len = DGRAM_MAX;
      memset(&g->msgs[i].msg_hdr, 0, sizeof g->msgs[i].msg_hdr);
      g->msgs[i].msg_hdr.msg_iov = &g->iov[i];
      g->msgs[i].msg_hdr.msg_iovlen = 1;
      g->msgs[i].msg_hdr.msg_name = &g->from[i];
      g->msgs[i].msg_hdr.msg_namelen = sizeof g->from[i];
    }
    int n = recvmmsg(g->fd, g->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      drained = 1;
      break;
    }
    double now = now_ms();
    int passed = 0;
    for (int i = 0; i < n; i++) {
      enum verdict v = judge(g, g->bufs + (size_t)i * DGRAM_MAX, g->msgs[i].msg_len, i, now);
      if (v == HANDLED) continue;
      g->pass_admitted[passed] = v == ADMITTED;
      g->pass_index[passed++] = i;
    }
    if (g->out_count > 0) send_answers(g);
    if (passed > 0) deliver(g, passed);
    if (n < BATCH) {
      drained = 1;
      break;
    }
    if (g->defer_on && round + 1 >= READS_PER_WAKE && now_ms() - started >= 2 * g->budget_ms) break;
  }
  if (g->held_count > 0 && !g->closed) {
    g->read_since_idle = 1;
    /* finishing work first: held work moves only once everything that had come was read and
     * what finishes something was served (a read cut short left some in the kernel's queue) */
    if (drained) admit_held(g, now_ms());
    else idle_update(g);
  }
}

/* ---------- the JavaScript interface ---------- */

static gate_socket *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a UDP gate socket");
    return NULL;
  }
  return p;
}

/* the arguments of a call on a socket: at least `n`, the first the socket's handle (else a
 * TypeError is thrown and NULL returned) */
static gate_socket *socket_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
    napi_throw_type_error(env, NULL, "too few arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

static void on_closed(uv_handle_t *handle) {
  gate_socket *g = handle->data;
  if (--g->handles_open > 0) return;
  if (g->fd >= 0) close(g->fd);
  g->fd = -1;
  free(g->bufs);
  free(g->out);
  free(g->held_bytes);
  free(g->held);
  g->held_bytes = NULL;
  g->held = NULL;
  g->held_count = 0;
  set_clear(&g->cur);
  set_clear(&g->prev);
  /* its references are the env's to free when the handle was dropped unclosed */
  challenge_free(g->ch);
  g->ch = NULL;
  g->bufs = NULL;
  g->out = NULL;
  g->released = 1;
  /* the struct goes with its JavaScript handle, whichever of the two ends last */
  if (g->finalized) free(g);
}

static void close_socket(gate_socket *g) {
  if (g->closed) return;
  g->closed = 1;
  if (g->polling) {
    uv_poll_stop(&g->poll);
    uv_idle_stop(&g->idle);
    uv_timer_stop(&g->wake);
    g->handles_open = 3;
    uv_close((uv_handle_t *)&g->poll, on_closed);
    uv_close((uv_handle_t *)&g->idle, on_closed);
    uv_close((uv_handle_t *)&g->wake, on_closed);
  } else {
    g->poll.data = g;
    g->handles_open = 1;
    on_closed((uv_handle_t *)&g->poll);
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  gate_socket *g = data;
  /* the nonce table's arrays and the authenticator's User-Agent test are let go of with the handle
   * (the challenge itself is freed with the socket's memory, on_closed) */
  if (g->ch != NULL) challenge_unref(env, g->ch);
  /* a socket whose handle was dropped unclosed is closed now (its references are the env's to
   * free); closing one never started releases it at once, so finalized is set after */
  if (!g->closed) close_socket(g);
  g->finalized = 1;
  if (g->released) free(g);
}

static int parse_address(const char *text, struct sockaddr_storage *sa, socklen_t *len, int port) {
  memset(sa, 0, sizeof *sa);
  if (strchr(text, '%') != NULL) {
    /* a scoped IPv6 address (fe80::1%eth0): only the resolver reads the zone, numerically */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(text, NULL, &hints, &res) != 0 || res == NULL) return 0;
    int ok = res->ai_addrlen <= sizeof *sa;
    if (ok) {
      memcpy(sa, res->ai_addr, res->ai_addrlen);
      *len = res->ai_addrlen;
      ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    }
    freeaddrinfo(res);
    return ok && sa->ss_family == AF_INET6;
  }
  if (strchr(text, ':') != NULL) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return 0;
    *len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)sa;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &a->sin_addr) != 1) return 0;
    *len = sizeof *a;
  }
  return 1;
}

/* open(address, port, receiveBuffer, sendBuffer) → { socket, port, receiveBufferSize } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char address[64];
  size_t alen = 0;
  int32_t port = 0, rcv = 0, snd = 0;
  if (argc < 4 || napi_get_value_string_latin1(env, argv[0], address, sizeof address, &alen) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &rcv) != napi_ok || napi_get_value_int32(env, argv[3], &snd) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(address, port, receiveBuffer, sendBuffer)");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t sa_len;
  if (!parse_address(address, &sa, &sa_len, port)) {
    napi_throw_type_error(env, "EINVAL", "not an IP address");
    return NULL;
  }
  int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  if (sa.ss_family == AF_INET6) {
    /* dual stack, as node's udp6 sockets (IPv4 peers appear as ::ffff:a.b.c.d) */
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (bind(fd, (struct sockaddr *)&sa, sa_len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  int bound_port = port_of(&bound);
  int granted = 0;
  socklen_t glen = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &glen);

  gate_socket *g = calloc(1, sizeof *g);
  char *bufs = malloc((size_t)BATCH * DGRAM_MAX);
  /* each answer copies at most a header section (HEAD_MAX) and adds under 2 KiB */
  char *out = malloc((size_t)BATCH * (HEAD_MAX + 2048));
  if (g == NULL || bufs == NULL || out == NULL) {
    free(g);
    free(bufs);
    free(out);
    close(fd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  g->fd = fd;
  g->family = sa.ss_family;
  g->bufs = bufs;
  g->out = out;
  g->last_refusal_at = -HUGE_VAL;
  g->generation_at = now_ms();
  g->last_challenge_at = -1;
  g->generation_ms = 32000;
  g->dialog_after_ms = 32000;
  g->env = env;

  napi_value result, ext, v;
  napi_create_object(env, &result);
  napi_create_external(env, g, finalize, NULL, &ext);
  napi_set_named_property(env, result, "socket", ext);
  napi_create_int32(env, bound_port, &v);
  napi_set_named_property(env, result, "port", v);
  napi_create_int32(env, granted, &v);
  napi_set_named_property(env, result, "receiveBufferSize", v);
  char text[INET6_ADDRSTRLEN] = "";
  address_text(&bound, text, sizeof text);
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "address", v);
  return result;
}

/* configure(socket, { tagPrefix, refusalLines, dialogLines, dialogAfterMs, rememberMs }) */
static int get_string(napi_env env, napi_value obj, const char *name, char *out, size_t cap, size_t *len) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  size_t n = 0;
  if (napi_get_value_string_latin1(env, v, out, cap, &n) != napi_ok || n + 1 >= cap) return 0;
  *len = n;
  return 1;
}

static napi_value js_configure(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  gate_socket *g = socket_args(env, info, 2, argv);
  if (g == NULL) return NULL;
  char prefix[64];
  size_t prefix_len = 0;
  if (!get_string(env, argv[1], "tagPrefix", prefix, sizeof prefix, &prefix_len) ||
      !get_string(env, argv[1], "refusalLines", g->refusal_extra, sizeof g->refusal_extra, &g->refusal_extra_len) ||
      !get_string(env, argv[1], "dialogLines", g->dialog_extra, sizeof g->dialog_extra, &g->dialog_extra_len)) {
    napi_throw_type_error(env, NULL, "configure: tagPrefix, refusalLines and dialogLines are strings (the prefix under 64 bytes, the lines under 512)");
    return NULL;
  }
  g->tag_bytes[0] = '=';
  memcpy(g->tag_bytes + 1, prefix, prefix_len);
  g->tag_bytes_len = prefix_len + 1;
  napi_value v;
  double d;
  if (napi_get_named_property(env, argv[1], "dialogAfterMs", &v) == napi_ok && napi_get_value_double(env, v, &d) == napi_ok) g->dialog_after_ms = d;
  if (napi_get_named_property(env, argv[1], "rememberMs", &v) == napi_ok && napi_get_value_double(env, v, &d) == napi_ok) g->generation_ms = d;
  return NULL;
}

/* start(socket, meta: Int32Array, onBatch(buffer, count, addresses)) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  gate_socket *g = socket_args(env, info, 3, argv);
  if (g == NULL) return NULL;
  if (g->polling || g->closed) {
    napi_throw_error(env, NULL, "start: already started or closed");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length < (size_t)BATCH * META_FIELDS) {
    napi_throw_type_error(env, NULL, "start: meta must be an Int32Array of BATCH * META entries");
    return NULL;
  }
  g->meta = data;
  napi_create_reference(env, argv[1], 1, &g->meta_ref);
  napi_create_reference(env, argv[2], 1, &g->on_batch);
  napi_value name;
  napi_create_string_latin1(env, "parley:udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &g->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int err = uv_poll_init(loop, &g->poll, g->fd);
  if (err == 0) {
    g->poll.data = g;
    err = uv_poll_start(&g->poll, UV_READABLE, on_readable);
    if (err != 0) uv_close((uv_handle_t *)&g->poll, NULL);
  }
  if (err == 0) {
    /* cannot fail on a live loop (libuv's uv_idle_init and uv_timer_init only fill the handle in) */
    uv_idle_init(loop, &g->idle);
    g->idle.data = g;
    uv_timer_init(loop, &g->wake);
    g->wake.data = g;
  }
  if (err != 0) {
    napi_throw_error(env, NULL, uv_strerror(err));
    return NULL;
  }
  g->polling = 1;
  return NULL;
}

/* defer(socket, maxWaitMs, budgetMs): new work held back while finishing work goes first (see
 * admit_held); maxWaitMs 0 stops holding (what is held still starts, or is refused past its wait) */
static napi_value js_defer(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  gate_socket *g = socket_args(env, info, 3, argv);
  if (g == NULL || g->closed) return NULL;
  double wait, budget;
  if (napi_get_value_double(env, argv[1], &wait) != napi_ok || napi_get_value_double(env, argv[2], &budget) != napi_ok || !(wait >= 0) || !(budget > 0)) {
    napi_throw_type_error(env, NULL, "defer(socket, maxWaitMs >= 0, budgetMs > 0)");
    return NULL;
  }
  if (wait > 0 && g->held == NULL) {
    g->held = calloc(HELD_SLOTS, sizeof *g->held);
    g->held_bytes = malloc((size_t)HELD_SLOTS * HELD_MAX);
    if (g->held == NULL || g->held_bytes == NULL) {
      free(g->held);
      free(g->held_bytes);
      g->held = NULL;
      g->held_bytes = NULL;
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
  }
  /* challenges and credentials are counted only while holding: the count starts afresh with it */
  if (wait > 0 && !g->defer_on) owed_reset(g, now_ms());
  g->defer_on = wait > 0;
  /* kept when holding stops: what is still held waits as long as it was promised */
  if (wait > 0) g->max_wait_ms = wait;
  g->budget_ms = budget;
  /* held work waiting on the timer for challenges owed (hold_update) is looked at again in the
   * loop's next turn: holding stopped, or a shorter wait, takes effect there, not up to a slot later */
  if (g->polling && g->held_count > 0) idle_update(g);
  return NULL;
}

/* the Float64Array argument `v` of at least `min` numbers, its length into *length (else `why`
 * is thrown as a TypeError and NULL returned) */
static double *float64_arg(napi_env env, napi_value v, size_t min, size_t *length, const char *why) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || *length < min) {
    napi_throw_type_error(env, NULL, why);
    return NULL;
  }
  return data;
}

/* drain(socket, out: Float64Array(4, 6 or 7)): judged, admitted, refused, answered in a refusal's
 * dialog since the last drain; into an array of 6 or more, also the challenges owed now and the
 * most that may be (-1, -1 while the bound does not apply); into one of 7, also the new work this
 * socket challenged itself since the last drain (plan_challenge). An array of 4 is still taken: a
 * build from before session 30 run against this binary (the bench's before/after runs) drains that. */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  gate_socket *g = socket_args(env, info, 2, argv);
  if (g == NULL) return NULL;
  size_t length = 0;
  double *out = float64_arg(env, argv[1], 4, &length, "drain: out must be a Float64Array of 4, 6 or 7");
  if (out == NULL) return NULL;
  out[0] = g->judged;
  out[1] = g->admitted;
  out[2] = g->refused;
  out[3] = g->answered_in_dialog;
  g->judged = g->admitted = g->refused = g->answered_in_dialog = 0;
  if (length >= 6 && !owed_bound(g, now_ms(), &out[4], &out[5])) out[4] = out[5] = -1;
  if (length >= 7) out[6] = g->challenged_here;
  g->challenged_here = 0;
  return NULL;
}

/* sendMany(socket, buffers, addresses, ports, count) → null, or [index, code] of the first that failed */
static napi_value js_send_many(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  gate_socket *g = socket_args(env, info, 5, argv);
  if (g == NULL) return NULL;
  uint32_t count = 0;
  napi_get_value_uint32(env, argv[4], &count);
  int first_failed = -1, first_errno = 0, answered = 0;
  double now = -1;
  for (uint32_t k = 0; k < count; k++) {
    napi_value b, a, p;
    napi_get_element(env, argv[1], k, &b);
    napi_get_element(env, argv[2], k, &a);
    napi_get_element(env, argv[3], k, &p);
    void *data = NULL;
    size_t len = 0;
    char addr[64];
    size_t alen = 0;
    int32_t port = 0;
    if (napi_get_buffer_info(env, b, &data, &len) != napi_ok || napi_get_value_string_latin1(env, a, addr, sizeof addr, &alen) != napi_ok || napi_get_value_int32(env, p, &port) != napi_ok) {
      if (first_failed < 0) first_failed = (int)k, first_errno = EINVAL;
      continue;
    }
    if (alen != g->last_addr_len || memcmp(addr, g->last_addr, alen) != 0 || port_of(&g->last_sa) != port) {
      if (!parse_address(addr, &g->last_sa, &g->last_sa_len, port)) {
        g->last_addr_len = 0;
        if (first_failed < 0) first_failed = (int)k, first_errno = EINVAL;
        continue;
      }
      memcpy(g->last_addr, addr, alen);
      g->last_addr_len = alen;
    }
    const struct sockaddr *to = (const struct sockaddr *)&g->last_sa;
    socklen_t to_len = g->last_sa_len;
    struct sockaddr_in6 mapped;
    if (g->family == AF_INET6 && g->last_sa.ss_family == AF_INET) {
      /* an IPv4 peer of a dual-stack socket: its mapped address (RFC 4291 §2.5.5.2) */
      const struct sockaddr_in *v4 = (const struct sockaddr_in *)&g->last_sa;
      memset(&mapped, 0, sizeof mapped);
      mapped.sin6_family = AF_INET6;
      mapped.sin6_port = v4->sin_port;
      mapped.sin6_addr.s6_addr[10] = 0xff;
      mapped.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&mapped.sin6_addr.s6_addr[12], &v4->sin_addr, 4);
      to = (const struct sockaddr *)&mapped;
      to_len = sizeof mapped;
    }
    if (sendto(g->fd, data, len, MSG_DONTWAIT, to, to_len) < 0) {
      if (first_failed < 0) first_failed = (int)k, first_errno = errno;
      continue;
    }
    /* anything but the queue probe (its first byte 0, sent from a timer on its own) */
    if (len > 0 && ((const char *)data)[0] != 0) answered = 1;
    if (g->defer_on && len >= 12 && memcmp(data, "SIP/2.0 40", 10) == 0 && (((const char *)data)[10] == '1' || ((const char *)data)[10] == '7') && ((const char *)data)[11] == ' ') {
      /* a challenge: its answer is owed (see `owed_room`) */
      if (now < 0) now = now_ms();
      owed_challenge(g, now);
    }
  }
  /* the turn's answers went out: the work it started is challenged now, or answered otherwise */
  if (answered) g->started_unsent = 0;
  if (first_failed < 0) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  napi_value r, v;
  napi_create_array_with_length(env, 2, &r);
  napi_create_int32(env, first_failed, &v);
  napi_set_element(env, r, 0, v);
  napi_create_string_utf8(env, strerror(first_errno), NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, r, 1, v);
  return r;
}

/* a Uint32Array (or, `f64`, a Float64Array) property of `obj`, of at least `min` elements, kept alive by *ref */
static void *typed_property(napi_env env, napi_value obj, const char *name, int f64, size_t min, size_t *length, napi_ref *ref) {
  napi_value v;
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok) return NULL;
  if (type != (f64 ? napi_float64_array : napi_uint32_array) || *length < min) return NULL;
  if (napi_create_reference(env, v, 1, ref) != napi_ok) return NULL;
  return data;
}

/* the strings of an array property, each under `cap` bytes, at most `most` of them: how many, or -1 */
static int string_list(napi_env env, napi_value obj, const char *name, char *out, size_t cap, size_t *lens, int most) {
  napi_value arr, v;
  uint32_t n = 0;
  bool is_array = false;
  if (napi_get_named_property(env, obj, name, &arr) != napi_ok || napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok || n > (uint32_t)most) return -1;
  for (uint32_t k = 0; k < n; k++) {
    size_t len = 0;
    if (napi_get_element(env, arr, k, &v) != napi_ok || napi_get_value_string_latin1(env, v, out + k * cap, cap, &len) != napi_ok || len == 0 || len + 1 >= cap) return -1;
    lens[k] = len;
  }
  return (int)n;
}

static void challenge_unref(napi_env env, challenge_cfg *c) {
  for (int k = 0; k < 5; k++) {
    if (c->refs[k] != NULL) napi_delete_reference(env, c->refs[k]);
    c->refs[k] = NULL;
  }
  if (c->offers_all != NULL) napi_delete_reference(env, c->offers_all);
  c->offers_all = NULL;
}

/*
 * challenge(socket, { methods, hosts, ownBranch, tagPrefix, status, lines: [most, all], offersAll,
 * forceRport, rememberMs, maxMessageBytes, maxBodyBytes, nonces: { tokenHigh, tokenLow, issued,
 * counts, made, lifetimeMs } }): requests plan_challenge takes are challenged here from then on.
 * `status` is the status line without CRLF; each of `lines` the lines after the copied ones,
 * NONCE_MARK where the nonce goes; `offersAll(userAgent)` says which of them a client gets (null:
 * always the first).
 */
static napi_value js_challenge(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  gate_socket *g = socket_args(env, info, 2, argv);
  if (g == NULL || g->closed) return NULL;
  challenge_cfg *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_value o = argv[1], v, fnv, nonces, lines;
  size_t n0 = 0, n1 = 0, n2 = 0, n3 = 0, nm = 0;
  double d = 0, max_message = 0, max_body = 0;
  bool b = false;
  napi_valuetype t = napi_undefined;
  int ok = (c->methods_n = string_list(env, o, "methods", &c->methods[0][0], sizeof c->methods[0], c->method_len, CH_METHODS)) > 0 &&
           (c->hosts_n = string_list(env, o, "hosts", &c->hosts[0][0], sizeof c->hosts[0], c->host_len, CH_HOSTS)) > 0 &&
           get_string(env, o, "ownBranch", c->own_branch, sizeof c->own_branch, &c->own_branch_len) &&
           get_string(env, o, "tagPrefix", c->tag_prefix, sizeof c->tag_prefix, &c->tag_prefix_len) && c->tag_prefix_len > 0 &&
           napi_get_named_property(env, o, "status", &v) == napi_ok && napi_get_value_string_utf8(env, v, c->status, sizeof c->status - 2, &c->status_len) == napi_ok &&
           c->status_len > 12 && c->status_len + 3 < sizeof c->status &&
           napi_get_named_property(env, o, "lines", &lines) == napi_ok && napi_get_element(env, lines, 0, &v) == napi_ok &&
           napi_get_value_string_utf8(env, v, c->lines[0], CH_TEMPLATE, &c->lines_len[0]) == napi_ok && c->lines_len[0] + 1 < CH_TEMPLATE &&
           napi_get_element(env, lines, 1, &v) == napi_ok && napi_get_value_string_utf8(env, v, c->lines[1], CH_TEMPLATE, &c->lines_len[1]) == napi_ok &&
           c->lines_len[1] + 1 < CH_TEMPLATE && napi_get_named_property(env, o, "forceRport", &v) == napi_ok && napi_get_value_bool(env, v, &b) == napi_ok &&
           napi_get_named_property(env, o, "rememberMs", &v) == napi_ok && napi_get_value_double(env, v, &c->remember_ms) == napi_ok && c->remember_ms > 0 &&
           napi_get_named_property(env, o, "maxMessageBytes", &v) == napi_ok && napi_get_value_double(env, v, &max_message) == napi_ok && max_message > 0 &&
           napi_get_named_property(env, o, "maxBodyBytes", &v) == napi_ok && napi_get_value_double(env, v, &max_body) == napi_ok && max_body >= 0 &&
           napi_get_named_property(env, o, "offersAll", &fnv) == napi_ok && napi_typeof(env, fnv, &t) == napi_ok && (t == napi_null || t == napi_function) &&
           napi_get_named_property(env, o, "nonces", &nonces) == napi_ok;
  if (ok && t == napi_function) ok = napi_create_reference(env, fnv, 1, &c->offers_all) == napi_ok;
  if (ok) {
    c->force_rport = b;
    c->max_message = (size_t)max_message;
    c->max_body = (size_t)max_body;
    c->tok_hi = typed_property(env, nonces, "tokenHigh", 0, 1, &n0, &c->refs[0]);
    c->tok_lo = typed_property(env, nonces, "tokenLow", 0, 1, &n1, &c->refs[1]);
    c->issued = typed_property(env, nonces, "issued", 0, 1, &n2, &c->refs[2]);
    c->counts = typed_property(env, nonces, "counts", 0, 1, &n3, &c->refs[3]);
    c->made = typed_property(env, nonces, "made", 1, 1, &nm, &c->refs[4]);
    ok = c->tok_hi != NULL && c->tok_lo != NULL && c->issued != NULL && c->counts != NULL && c->made != NULL && n0 == n1 && n0 == n2 && n0 == n3 &&
         napi_get_named_property(env, nonces, "lifetimeMs", &v) == napi_ok && napi_get_value_double(env, v, &d) == napi_ok && d > 0;
    c->slots = n0;
    c->lifetime_ms = d;
  }
  if (!ok) {
    challenge_drop(env, c);
    napi_throw_type_error(env, NULL, "challenge: methods, hosts, ownBranch, tagPrefix, status, lines [2], offersAll (a function or null), forceRport, rememberMs > 0, maxMessageBytes, maxBodyBytes and nonces (tokenHigh, tokenLow, issued, counts: Uint32Arrays of one length; made: a Float64Array; lifetimeMs > 0)");
    return NULL;
  }
  for (int k = 0; k < c->hosts_n; k++)
    for (size_t i = 0; i < c->host_len[k]; i++)
      if (c->hosts[k][i] >= 'A' && c->hosts[k][i] <= 'Z') c->hosts[k][i] = (char)(c->hosts[k][i] + 32);
  memcpy(c->status + c->status_len, "\r\n", 2);
  c->status_len += 2;
  /* the template's nonces are what challenge_answer reserves room for (MAX_MARKS each) */
  for (int k = 0; k < 2; k++) {
    int marks = 0;
    for (size_t i = 0; i < c->lines_len[k]; i++) marks += c->lines[k][i] == NONCE_MARK;
    if (marks > MAX_MARKS) {
      challenge_drop(env, c);
      napi_throw_type_error(env, NULL, "challenge: at most 4 nonces in each of `lines`");
      return NULL;
    }
  }
  if (getrandom(&c->seed, sizeof c->seed, 0) != sizeof c->seed) c->seed = (uint32_t)now_ms() ^ 0x9e3779b9u;
  c->pool_at = POOL_WORDS;
  c->memo = calloc((size_t)MEMO_SETS * 2, sizeof *c->memo);
  c->ua = calloc(UA_SLOTS, sizeof *c->ua);
  if (c->memo == NULL || c->ua == NULL) {
    challenge_drop(env, c);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (g->ch != NULL) challenge_drop(env, g->ch);
  g->ch = c;
  return NULL;
}

/* takeChallenged(socket, out: Float64Array(4)): into out[k], the challenges this socket sent to
 * requests of methods[k] since the last call (not counting those sent again) */
static napi_value js_take_challenged(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  gate_socket *g = socket_args(env, info, 2, argv);
  if (g == NULL) return NULL;
  size_t length = 0;
  double *out = float64_arg(env, argv[1], CH_METHODS, &length, "takeChallenged: out must be a Float64Array of 4");
  if (out == NULL) return NULL;
  for (int k = 0; k < CH_METHODS; k++) {
    out[k] = g->ch != NULL ? g->ch->challenged[k] : 0;
    if (g->ch != NULL) g->ch->challenged[k] = 0;
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  gate_socket *g = socket_args(env, info, 1, argv);
  if (g == NULL || g->closed) return NULL;
  if (g->on_batch != NULL) napi_delete_reference(env, g->on_batch);
  if (g->meta_ref != NULL) napi_delete_reference(env, g->meta_ref);
  g->on_batch = g->meta_ref = NULL;
  if (g->async != NULL) napi_async_destroy(env, g->async);
  g->async = NULL;
  if (g->ch != NULL) challenge_drop(env, g->ch);
  g->ch = NULL;
  close_socket(g);
  return NULL;
}

NAPI_MODULE_INIT() {
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"open", js_open}, {"configure", js_configure}, {"start", js_start}, {"defer", js_defer}, {"drain", js_drain}, {"sendMany", js_send_many}, {"challenge", js_challenge}, {"takeChallenged", js_take_challenged}, {"close", js_close}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_value v;
  napi_create_int32(env, BATCH, &v);
  napi_set_named_property(env, exports, "BATCH", v);
  napi_create_int32(env, META_FIELDS, &v);
  napi_set_named_property(env, exports, "META", v);
  return exports;
}
