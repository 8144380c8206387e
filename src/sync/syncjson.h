/*-------------------------------------------------------------------------
 *
 * syncjson.h
 *	  jansson-facing helpers of the sync component: the spec and request
 *	  bodies are read and written with jansson (pages with jdoc.c).
 *
 * Only the spec files (spec.c, specvalue.c, specauth.c) and reqbody.c
 * include this header; none of them may include utils/builtins.h, whose
 * json_object clashes with jansson's.
 *
 * The clash goes beyond the compiler: the postgres executable exports a
 * json_object symbol (the SQL function), and the dynamic linker binds a
 * call from this library to json_object to that one.  Never call jansson's
 * json_object() here; build objects with json_copy() or json_loads("{}").
 * (No other jansson function shares a name with an exported postgres
 * symbol in PostgreSQL 15.)
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNCJSON_H
#define CONCORD_SYNCJSON_H

#include <jansson.h>

#include "sync/sync.h"

extern char *sync_json_scalar_text(json_t *v);

#endif							/* CONCORD_SYNCJSON_H */
