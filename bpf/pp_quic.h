/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_quic.h - QUIC (RFC 9000, RFC 9369) client packet classification.
 *
 * Contract: pp_quic_class(pos, end, len, versions, nr) looks at a UDP
 * payload of len bytes starting at pos (end = the packet's data_end) and
 * returns
 *	PP_QUIC_INITIAL  a long-header Initial with the fixed bit, a version in
 *	                 versions[0..nr), connection ids of at most 20 bytes,
 *	                 in a datagram of at least 1200 bytes: opens a session;
 *	PP_QUIC_SESSION  any other well-formed long header (0-RTT, Handshake)
 *	                 of an allowed version, or a short header with the
 *	                 fixed bit: only a source with a session may send it;
 *	-1               anything else: truncated, fixed bit clear, version not
 *	                 allowed (version negotiation included), a connection id
 *	                 over 20 bytes, a short Initial, Retry from a client.
 * It bounds-checks before every read. Versions are compared in host order.
 */
#ifndef PP_QUIC_H
#define PP_QUIC_H

#include <linux/types.h>
#include "pp_abi.h"

#define PP_QUIC_MIN_INITIAL 1200
#define PP_QUIC_MAX_CID 20
#define PP_QUIC_V1 0x00000001u
#define PP_QUIC_V2 0x6b3343cfu

enum pp_quic_class {
	PP_QUIC_INITIAL = 1,
	PP_QUIC_SESSION = 2,
};

/* The long-header packet type of an Initial: 0 in v1, 1 in v2; of a
 * Retry, which only servers send: 3 in v1, 0 in v2. */
static __always_inline int pp_quic_class(const __u8 *pos, void *end,
					 __u32 len, const __u32 *versions,
					 __u32 nr)
{
	const __u8 *scid;
	__u32 version, type, dcid_len;
	int allowed = 0, i;

	if ((void *)(pos + 1) > end || !len)
		return -1;
	if (!(pos[0] & 0x40))
		return -1;
	if (!(pos[0] & 0x80))
		return PP_QUIC_SESSION;
	if (len < 6 || (void *)(pos + 6) > end)
		return -1;
	version = ((__u32)pos[1] << 24) | ((__u32)pos[2] << 16) |
		  ((__u32)pos[3] << 8) | pos[4];
#pragma unroll
	for (i = 0; i < PP_L7_QUIC_VERSIONS; i++)
		if (i < nr && versions[i] == version)
			allowed = 1;
	if (!allowed)
		return -1;
	dcid_len = pos[5];
	if (dcid_len > PP_QUIC_MAX_CID || len < 7 + dcid_len)
		return -1;
	scid = pos + 6 + dcid_len;
	if ((void *)(scid + 1) > end || scid[0] > PP_QUIC_MAX_CID ||
	    len < 7 + dcid_len + scid[0])
		return -1;
	type = (pos[0] >> 4) & 3;
	if (version == PP_QUIC_V2)
		type = (type + 3) & 3;	/* v2 rotates the types by one */
	if (type == 3)
		return -1;
	if (type != 0)
		return PP_QUIC_SESSION;
	return len >= PP_QUIC_MIN_INITIAL ? PP_QUIC_INITIAL : -1;
}

#endif /* PP_QUIC_H */
