/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_minecraft.h - Minecraft Java Edition connection-start validation.
 *
 * Contract: the parsers look at the payload of one TCP segment, len bytes
 * from pos (end = the packet's data_end), and never read past either.
 * pp_mc_first(pos, end, len, min, max, legacy) checks the first data of a
 * connection: a handshake (VarInt length of at most 3 bytes, packet id
 * 0x00, protocol version in [min, max], server address of at most 255
 * bytes, a port, next state 1, 2 or 3) whose length matches its fields,
 * optionally followed in the same segment by the packet the state
 * expects; or, when legacy is set, a legacy server-list ping (0xfe).
 * It returns the flow's next enum pp_mc_state, or -1 for anything else.
 * pp_mc_next(pos, end, len, state) checks the first data after a
 * handshake sent alone: a status request for PP_MC_STATUS, a login start
 * with a name of 1 to 16 bytes for PP_MC_LOGIN; it returns PP_MC_VALID or
 * -1. VarInts are little-endian base-128; strings are VarInt-prefixed.
 */
#ifndef PP_MINECRAFT_H
#define PP_MINECRAFT_H

#include <linux/types.h>
#include "pp_abi.h"

#define PP_MC_MAX_ADDR 255
#define PP_MC_MAX_NAME 16

/* A VarInt of at most max bytes at pos, with avail payload bytes left:
 * its length in bytes, or -1. */
static __always_inline int pp_varint(const __u8 *pos, void *end, int max,
				     __u32 avail, __u32 *out)
{
	__u32 v = 0;
	int i;

#pragma unroll
	for (i = 0; i < 5; i++) {
		if (i >= max || i >= avail || (void *)(pos + i + 1) > end)
			return -1;
		v |= (__u32)(pos[i] & 0x7f) << (7 * i);
		if (!(pos[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return -1;
}

/* The packet after the handshake, at pos with len bytes left: status
 * request (length 1, id 0x00) or login start (id 0x00, a name of 1 to 16
 * bytes). PP_MC_VALID or -1. */
static __always_inline int pp_mc_next(const __u8 *pos, void *end, __u32 len,
				      int state)
{
	__u32 plen, id, name;
	int n, m, k;

	n = pp_varint(pos, end, 3, len, &plen);
	if (n < 0 || plen > len - n || !plen)
		return -1;
	m = pp_varint(pos + n, end, 1, plen, &id);
	if (m < 0 || id != 0)
		return -1;
	if (state == PP_MC_STATUS)
		return plen == 1 ? PP_MC_VALID : -1;
	k = pp_varint(pos + n + m, end, 1, plen - m, &name);
	if (k < 0 || !name || name > PP_MC_MAX_NAME || m + k + name > plen)
		return -1;
	return PP_MC_VALID;
}

static __always_inline int pp_mc_first(const __u8 *pos, void *end, __u32 len,
				       __u32 min, __u32 max, int legacy)
{
	__u32 plen, id, proto, alen, o, next;
	const __u8 *f, *q;
	int n;

	if (!len || (void *)(pos + 1) > end)
		return -1;
	if (pos[0] == 0xfe)
		return legacy ? PP_MC_VALID : -1;
	n = pp_varint(pos, end, 3, len, &plen);
	if (n < 0 || plen > len - n)
		return -1;
	/* o: bytes of the handshake's body read so far, at most plen */
	f = pos + n;
	o = 0;
	n = pp_varint(f, end, 1, plen, &id);
	if (n < 0 || id != 0)
		return -1;
	o += n;
	n = pp_varint(f + o, end, 5, plen - o, &proto);
	if (n < 0 || proto < min || proto > max)
		return -1;
	o += n;
	n = pp_varint(f + o, end, 2, plen - o, &alen);
	if (n < 0 || alen > PP_MC_MAX_ADDR)
		return -1;
	o += n + alen;
	/* port (2 bytes, not 0) and next state (1 byte) end the body */
	if (o + 3 != plen)
		return -1;
	q = f + o;
	if ((void *)(q + 3) > end || (!q[0] && !q[1]))
		return -1;
	next = q[2];
	if (next < 1 || next > 3)
		return -1;
	o = (f - pos) + plen;
	if (o == len)
		return next == 1 ? PP_MC_STATUS : PP_MC_LOGIN;
	return pp_mc_next(pos + o, end, len - o,
			  next == 1 ? PP_MC_STATUS : PP_MC_LOGIN);
}

#endif /* PP_MINECRAFT_H */
