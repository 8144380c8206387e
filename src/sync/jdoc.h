/*-------------------------------------------------------------------------
 *
 * jdoc.h
 *	  A parsed JSON page (jdoc.c): the values of a body as a flat array of
 *	  nodes in document order, pointing into the body's text.
 *
 * Built for reading pages fast, in the parser thread: one pass over the
 * text, no hash tables, strings decoded only when a value is taken.
 * Allocates with sync_alloc (the thread's arena, or palloc in the
 * backend); never calls elog.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_JDOC_H
#define CONCORD_SYNC_JDOC_H

#include "sync/sync.h"

typedef enum JdType
{
	JD_NULL,
	JD_FALSE,
	JD_TRUE,
	JD_NUMBER,
	JD_STRING,
	JD_ARRAY,
	JD_OBJECT
} JdType;

#define JD_NONE ((uint32) 0xFFFFFFFF)	/* no node */

typedef struct JdNode
{
	uint8		type;			/* JdType */
	bool		escaped;		/* a string with backslash escapes */
	bool		key_escaped;	/* a member name with backslash escapes */
	bool		integer;		/* a number without fraction or exponent */
	bool		has_nul;		/* a string holding \u0000 */
	bool		key_nul;		/* a member name holding \u0000 */
	uint32		next;			/* index of the node after this subtree */
	uint32		count;			/* members or elements */
	uint32		keylen;
	uint32		len;
	const char *key;			/* member name, between the quotes; or NULL */
	const char *text;			/* a string's contents between the quotes; a
								 * number's or literal's text; a container's
								 * whole span, brackets included */
} JdNode;

typedef struct JDoc
{
	JdNode	   *nodes;
	uint32		n;
	const char *body;
	size_t		len;
} JDoc;

extern bool jd_parse(const char *body, size_t len, JDoc *doc, char **error);
extern uint32 jd_member(const JDoc *doc, uint32 obj, const char *key, size_t keylen);
extern uint32 jd_element(const JDoc *doc, uint32 arr, int64 index);
extern char *jd_string(const JDoc *doc, uint32 node);
extern char *jd_scalar_text(const JDoc *doc, uint32 node);
extern char *jd_compact(const JDoc *doc, uint32 node);
extern char *jd_without(const JDoc *doc, uint32 obj, const SyncSpec *spec, bool *nul);
extern bool jd_holds_nul(const JDoc *doc, uint32 v);

/* jpath.c: paths over a JDoc */
extern uint32 sync_path_node(const SyncPath *path, const JDoc *doc, uint32 root);
extern uint32 *sync_path_nodes(const SyncPath *path, const JDoc *doc, uint32 root, int *n);

#endif							/* CONCORD_SYNC_JDOC_H */
