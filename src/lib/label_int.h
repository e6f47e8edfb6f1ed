/* label_int.h - building a label by hand, shared by the flows' labels (flow_label.c) and the other packets'
 * (packet_label.c). No snprintf: it was a third of the sniffer's per-packet cost. */
#ifndef WIRECHECK_LABEL_INT_H
#define WIRECHECK_LABEL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A label under construction. Labels are built by hand, not with snprintf, which was a third of the
 * sniffer's per-packet cost. Appends stop at the end of the buffer, which always ends in a NUL. */
struct lbl {
    char *s;
    size_t n, cap;
};

static inline void put_mem(struct lbl *l, const char *str, size_t k)
{
    if (l->cap == 0)
        return;
    if (k > l->cap - 1 - l->n)
        k = l->cap - 1 - l->n;
    memcpy(l->s + l->n, str, k);
    l->n += k;
    l->s[l->n] = '\0';
}

/* Inlined, so that the length of a literal is known at compile time. */
static inline void put_s(struct lbl *l, const char *str)
{
    put_mem(l, str, strlen(str));
}

static inline void put_u(struct lbl *l, uint32_t v)
{
    char t[10];
    int i = 0;

    do {
        t[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i && l->n + 1 < l->cap)
        l->s[l->n++] = t[--i];
    if (l->cap)
        l->s[l->n] = '\0';
}

/* v in hex, `digits` wide, after "0x" when prefix. */
static inline void put_hex(struct lbl *l, uint32_t v, int digits, int prefix)
{
    static const char hex[] = "0123456789abcdef";
    char t[10];
    int i = 0;

    if (prefix) {
        t[i++] = '0';
        t[i++] = 'x';
    }
    for (int k = digits - 1; k >= 0; k--)
        t[i++] = hex[(v >> (4 * k)) & 15];
    put_mem(l, t, (size_t)i);
}

/* prefix, number, suffix: the shape of most labels. */
static inline void put_sus(struct lbl *l, const char *a, uint32_t v, const char *b)
{
    put_s(l, a);
    put_u(l, v);
    put_s(l, b);
}

#endif
