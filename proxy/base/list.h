/*
 * list: an intrusive circular doubly-linked list (the kernel's and libuv's
 * QUEUE). The node lives inside the owning struct; nothing is allocated.
 */
#ifndef PX_LIST_H
#define PX_LIST_H

#include <stdbool.h>

struct px_list {
    struct px_list *prev, *next;
};

static inline void px_list_init(struct px_list *l)
{
    l->prev = l->next = l;
}

static inline bool px_list_empty(const struct px_list *l)
{
    return l->next == l;
}

/* Inserts N right after HEAD (push front). */
static inline void px_list_insert_head(struct px_list *head, struct px_list *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Inserts N right before HEAD (push back). */
static inline void px_list_insert_tail(struct px_list *head, struct px_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Moves every node of FROM, in order, to TO, which is initialized first;
 * FROM is left empty. */
static inline void px_list_move_all(struct px_list *to, struct px_list *from)
{
    px_list_init(to);
    if (px_list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    px_list_init(from);
}

/* Unlinks N; N is left self-linked so a second remove is harmless. */
static inline void px_list_remove(struct px_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    px_list_init(n);
}

#endif
