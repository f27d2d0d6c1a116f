/*
 * Unit tests of proxy/base/list.h's px_list_move_all: every node moves in
 * order, the source is left empty and usable, and an empty source gives an
 * empty, initialized destination.
 */
#include "tests/unit/test.h"
#include "proxy/base/list.h"
#include "proxy/base/px.h"

struct node {
    struct px_list link;
    int id;
};

TEST(list_move_all_keeps_order_and_empties_the_source)
{
    struct px_list from, to;
    struct node n[3] = {{.id = 1}, {.id = 2}, {.id = 3}};

    px_list_init(&from);
    px_list_move_all(&to, &from); /* empty to empty */
    ASSERT(px_list_empty(&to));
    ASSERT(px_list_empty(&from));
    for (int i = 0; i < 3; i++)
        px_list_insert_tail(&from, &n[i].link);
    px_list_move_all(&to, &from);
    ASSERT(px_list_empty(&from));
    int want = 1;
    for (struct px_list *l = to.next; l != &to; l = l->next)
        ASSERT_EQ(px_container_of(l, struct node, link)->id, want++);
    ASSERT_EQ(want, 4);
    for (struct px_list *l = to.prev; l != &to; l = l->prev)
        ASSERT_EQ(px_container_of(l, struct node, link)->id, --want); /* back links too */
    struct node more = {.id = 4};
    px_list_insert_tail(&from, &more.link); /* the source is usable again */
    ASSERT(from.next == &more.link && from.prev == &more.link);
    px_list_remove(&more.link);
    ASSERT(px_list_empty(&from));
}
