/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pp_raknet.h - RakNet (Minecraft Bedrock) datagram classification.
 *
 * Contract: pp_raknet_class(pos, end, len) looks at a UDP payload of len
 * bytes starting at pos (end = the packet's data_end) and returns
 *	PP_RAKNET_OFFLINE   unconnected ping (0x01/0x02) or open-connection
 *	                    request 1 (0x05), with the offline magic in place
 *	                    and a plausible size;
 *	PP_RAKNET_REQ2      open-connection request 2 (0x07), well formed: the
 *	                    source completes the handshake and gets a session;
 *	PP_RAKNET_CONNECTED a datagram of an open connection (first byte with
 *	                    the valid bit 0x80: data 0x80-0x8f, ACK, NACK), which
 *	                    only a source with a session may send;
 *	-1                  anything else: truncated, no magic, wrong size,
 *	                    unknown packet id.
 * It bounds-checks before every read; multi-byte fields are not decoded.
 */
#ifndef PP_RAKNET_H
#define PP_RAKNET_H

#include <linux/types.h>

#define PP_RAKNET_MAGIC_LEN 16
#define PP_RAKNET_PING_LEN 33		/* id, time(8), magic, guid(8) */
#define PP_RAKNET_PING_MAX 64
/* Request 1 is padded to the MTU the client probes (1492, 1200, 576 …);
 * anything shorter than the smallest MTU RakNet uses is not a probe. */
#define PP_RAKNET_REQ1_MIN (400 - 28)
#define PP_RAKNET_REQ1_MAX 1500
/* id, magic, address (7 for IPv4, 29 for IPv6), mtu(2), guid(8) */
#define PP_RAKNET_REQ2_MIN 34
#define PP_RAKNET_REQ2_MAX 64

enum pp_raknet_class {
	PP_RAKNET_OFFLINE = 1,
	PP_RAKNET_REQ2 = 2,
	PP_RAKNET_CONNECTED = 3,
};

/* The offline message id: 00 ff ff 00 fe fe fe fe fd fd fd fd 12 34 56 78 */
static __always_inline int pp_raknet_magic(const __u8 *m, void *end)
{
	static const __u8 magic[PP_RAKNET_MAGIC_LEN] = {
		0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe,
		0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78,
	};
	__u8 diff = 0;
	int i;

	if ((void *)(m + PP_RAKNET_MAGIC_LEN) > end)
		return 0;
#pragma unroll
	for (i = 0; i < PP_RAKNET_MAGIC_LEN; i++)
		diff |= m[i] ^ magic[i];
	return diff == 0;
}

static __always_inline int pp_raknet_class(const __u8 *pos, void *end,
					   __u32 len)
{
	__u8 id;

	if ((void *)(pos + 1) > end || !len)
		return -1;
	id = pos[0];
	if (id & 0x80)
		return PP_RAKNET_CONNECTED;
	switch (id) {
	case 0x01:
	case 0x02:
		if (len < PP_RAKNET_PING_LEN || len > PP_RAKNET_PING_MAX)
			return -1;
		return pp_raknet_magic(pos + 9, end) ? PP_RAKNET_OFFLINE : -1;
	case 0x05:
		if (len < PP_RAKNET_REQ1_MIN || len > PP_RAKNET_REQ1_MAX)
			return -1;
		return pp_raknet_magic(pos + 1, end) ? PP_RAKNET_OFFLINE : -1;
	case 0x07:
		if (len < PP_RAKNET_REQ2_MIN || len > PP_RAKNET_REQ2_MAX)
			return -1;
		if ((void *)(pos + 18) > end ||
		    (pos[17] != 4 && pos[17] != 6))
			return -1;
		return pp_raknet_magic(pos + 1, end) ? PP_RAKNET_REQ2 : -1;
	default:
		return -1;
	}
}

#endif /* PP_RAKNET_H */
