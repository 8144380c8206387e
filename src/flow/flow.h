/*-------------------------------------------------------------------------
 *
 * flow.h
 *	  What the flow component offers the rest of concord: the outbox
 *	  delivery round the database worker runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_FLOW_H
#define CONCORD_FLOW_H

/*
 * Claim due outbox messages, send them, record the outcomes; returns how
 * many were sent.  *next_due_ms is set to the milliseconds until the next
 * pending message is due (-1: none), for the worker's sleep.
 */
extern int	flow_deliver_round(long *next_due_ms);

#endif							/* CONCORD_FLOW_H */
