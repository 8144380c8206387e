/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The differences between the PostgreSQL majors concord supports (15, 17
 *	  and 18), in one place.
 *
 * Component code is written against the newest major's names; this header
 * maps them onto the older majors.  It is the only file of concord that
 * tests PG_VERSION_NUM (conventions.md, "PostgreSQL versions"): a new
 * difference gets a small macro or inline function here, named after the
 * newest API, and the component calls that.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_COMPAT_H
#define CONCORD_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "concord supports PostgreSQL 15, 17 and 18"
#endif

/*
 * 18 replaced the trailing pg_attribute_noreturn() by the leading
 * pg_noreturn (C11 _Noreturn): "pg_noreturn extern void f(void);".  Before
 * 18, the GCC-style attribute is just as valid in front.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * 17 moved the local transaction id of a backend into its virtual
 * transaction id (MyProc->vxid.lxid).
 */
#if PG_VERSION_NUM >= 170000
#define concord_my_lxid() (MyProc->vxid.lxid)
#else
#define concord_my_lxid() (MyProc->lxid)
#endif

/*
 * 16 made pgstat_fetch_stat_local_beentry() take a backend id and added
 * pgstat_get_local_beentry_by_index() for walking the local array (1-based
 * index up to pgstat_fetch_stat_numbackends()); 18 dropped the former.
 */
#if PG_VERSION_NUM < 160000
#define pgstat_get_local_beentry_by_index(idx) pgstat_fetch_stat_local_beentry(idx)
#endif

/*
 * 16 moved the varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR, SET_VARSIZE,
 * ...) out of postgres.h into varatt.h.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * 16 added a soft-error context to stringToQualifiedNameList(); older
 * majors take the string alone (NULL: errors are thrown, as before).
 */
#if PG_VERSION_NUM < 160000
#define stringToQualifiedNameList(string, escontext) stringToQualifiedNameList(string)
#endif

/*
 * The role a plan reads a relation of its range table as (InvalidOid: the
 * current user).  16 moved checkAsUser from RangeTblEntry into the plan's
 * RTEPermissionInfo list (needs parser/parse_relation.h).
 */
#if PG_VERSION_NUM >= 160000
#define concord_rte_check_as_user(plan, rte) \
	((rte)->perminfoindex == 0 ? InvalidOid : \
	 getRTEPermissionInfo((plan)->permInfos, (rte))->checkAsUser)
#else
#define concord_rte_check_as_user(plan, rte) ((rte)->checkAsUser)
#endif

/*
 * 18 made base64's input bytes (const uint8 *); before, const char *.
 */
#if PG_VERSION_NUM >= 180000
#define concord_b64_encode(src, len, dst, dstlen) \
	pg_b64_encode((const uint8 *) (src), (len), (dst), (dstlen))
#else
#define concord_b64_encode(src, len, dst, dstlen) \
	pg_b64_encode((const char *) (src), (len), (dst), (dstlen))
#endif

/*
 * 17 ties a WaitEventSet to a resource owner (NULL: freed by hand) instead
 * of a memory context; concord's sets live as long as the backend.  18
 * moved the wait-event-set API out of latch.h into waiteventset.h.
 */
#if PG_VERSION_NUM >= 180000
#include "storage/waiteventset.h"
#endif
#if PG_VERSION_NUM >= 170000
#define concord_wait_set_create(nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define concord_wait_set_create(nevents) CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

#endif							/* CONCORD_COMPAT_H */
