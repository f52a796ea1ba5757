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
 * pp_raknet_disconnect(pos, end, len) says whether a connected datagram's
 * first frame is a disconnection notification (0x15): 1 or 0.
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

/* A data datagram: the valid bit without ACK (0x40) or NAK (0x20). */
#define PP_RAKNET_DATA_MASK 0xe0
#define PP_RAKNET_DATA 0x80
#define PP_RAKNET_FRAME_SPLIT 0x10
#define PP_RAKNET_DISCONNECT 0x15

/* Bytes of a frame's header after its flags and bit length, by its
 * reliability (flags >> 5): a reliable index (2, 3, 4, 6, 7), a sequence
 * index (1, 4), an order index and channel (1, 3, 4, 7). */
static __always_inline __u32 pp_raknet_frame_skip(__u8 reliability)
{
	__u32 n = 0;

	if (reliability >= 2 && reliability != 5)
		n += 3;
	if (reliability == 1 || reliability == 4)
		n += 3;
	if (reliability == 1 || reliability == 3 || reliability == 4 ||
	    reliability == 7)
		n += 4;
	return n;
}

/* Only the first frame is looked at: clients send the notification on its
 * own (jsp-raknet, bedrock-protocol) as they close. Split frames and
 * bodies longer than one byte are not a notification. */
static __always_inline int pp_raknet_disconnect(const __u8 *pos, void *end,
						__u32 len)
{
	/* id, sequence number (3), frame flags, bit length (2) */
	const __u32 head = 1 + 3 + 1 + 2;
	const __u8 *body;
	__u32 skip;

	if ((void *)(pos + head) > end || len < head + 1)
		return 0;
	if ((pos[0] & PP_RAKNET_DATA_MASK) != PP_RAKNET_DATA ||
	    (pos[4] & PP_RAKNET_FRAME_SPLIT))
		return 0;
	if (pos[5] != 0 || pos[6] != 8)
		return 0;
	skip = pp_raknet_frame_skip(pos[4] >> 5);
	if (len < head + skip + 1)
		return 0;
	body = pos + head + skip;
	if ((void *)(body + 1) > end)
		return 0;
	return body[0] == PP_RAKNET_DISCONNECT;
}

#endif /* PP_RAKNET_H */
