/*
 * Content-defined chunking (include/certsync/chunker.h): FastCDC with
 * normalised chunking at level 2 and a 64-bit gear hash.
 *
 * The rolling fingerprint is fp = (fp << 1) + gear[byte]. After the shift,
 * bit k of fp depends only on the last k + 1 bytes, so the masks test the
 * top bits: a cut then depends on a window of at least 64 - 22 bytes and
 * never on where the chunk started (beyond the min_size skip), which is
 * what lets chunking resynchronise after an insertion.
 *
 * Normalised chunking: between min_size and avg_size the mask has two bits
 * more than log2(avg) (cuts are rare), after avg_size two bits fewer (cuts
 * are frequent), which pulls chunk sizes towards avg_size.
 *
 * The cut points are part of the sync format: two devices must cut the same
 * content the same way to share chunks. The gear table and the mask
 * placement below must therefore never change; tests pin them with known
 * cut points.
 */
#include <assert.h>
#include <certsync/chunker.h>

/* splitmix64 output for the seed 0x6365727473796e63 ("certsync"):
 * x += 0x9E3779B97F4A7C15; z = x; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9;
 * z = (z ^ z >> 27) * 0x94D049BB133111EB; gear[i] = z ^ z >> 31.
 * Kept as a literal table so that the hot loop needs no initialisation
 * check and the constants are visibly fixed. */
static const uint64_t gear[256] = {
	0x6adc4a970cb430b3ull, 0x2a06eb63b31ee588ull, 0xe84c915e5d2c488dull,
	0x00a4d29ce0e1af10ull, 0x130a1a6c7ca4b8adull, 0x926378e9ffda7c09ull,
	0xb9ab91998a8f5e7cull, 0xe292f3e424b2c6eeull, 0x46a1e6520ace6823ull,
	0xab4f542374bd27d5ull, 0x139e92cc01325528ull, 0x42f9e8ddfb0a366bull,
	0x344935aea5dcf422ull, 0x03be41dff15b81c1ull, 0x4a61726d360926d4ull,
	0xe45fe17c2efa4470ull, 0x48fcb321d8540ca6ull, 0xbaa694a9ed039517ull,
	0x0d19ed6ff0065981ull, 0x3c5e8ea5af016774ull, 0xfe7b08113a32e0b6ull,
	0x63710e6a2c6f1460ull, 0x23c653dfddcafa9full, 0x3b59537fd7ef6c9full,
	0x96be03d4fb76b9fbull, 0x39bb02c0ec051efcull, 0x56cbf26744ee9135ull,
	0x393ad465460e64e2ull, 0xfad744507d3d0011ull, 0x356995ab2c4ee4c8ull,
	0x6badc4d52b7410cfull, 0x06efbfcd3f00f21cull, 0xc106bdd506c385ccull,
	0xb101f57e79a9aad6ull, 0x68f8265407693928ull, 0x621725135fc230e9ull,
	0xf28b79c711e42cfeull, 0xb4cf13796f93b05full, 0x33f5891509c97109ull,
	0x1f90d0296cf36982ull, 0x98a499e02d999af5ull, 0x0c399f57970c16c9ull,
	0xc9c127caaf92e6c0ull, 0x235984c874da7df6ull, 0xebad4ee356a237b2ull,
	0xaf3b3637f72f0defull, 0x44a43a30f57d2536ull, 0x0549d329abb15e04ull,
	0x588d2c4650b849e7ull, 0xe5c0426e2851e9f6ull, 0x34c8e1122a985a18ull,
	0x0ed8dd828b61e7f2ull, 0x32b4f1ec23106eabull, 0x9ffd07ac184544edull,
	0x6f44a0125af7fe8aull, 0x37198563d9c2b850ull, 0xc1f05ba3aa73e1dbull,
	0x0b4c799a62d93a9eull, 0x6e9c7cda2f7008dcull, 0x259241fb64bd8588ull,
	0x6f41f1a47f28a675ull, 0x122eb5bd898fa0d2ull, 0x56a3b378e525efabull,
	0x84b888d38cb4ed49ull, 0xe4ab1e518fa7764cull, 0xbeeec796099124c3ull,
	0x5567364dc45d78beull, 0x4ff6111c69dad70bull, 0x1639661eeca7be80ull,
	0x601cf69f356933d8ull, 0x3034f8930b0addb1ull, 0x87b0d0e52deb3fb8ull,
	0x9bc9fdbf48a2525full, 0x2f3e9e5f1b3cd5a2ull, 0x743f83607d295ab3ull,
	0x73eb2e622546fc11ull, 0xae663b4e896deeddull, 0x1f9977150eec8013ull,
	0xcb02d0bf8116270cull, 0x336cf4295ccd0396ull, 0xf7dbffb7330cb059ull,
	0x4b50ac09d96916bfull, 0xc507041673cbebf9ull, 0xfa61b283d0b196a7ull,
	0x7e342e1c89022bfcull, 0x7244451a6e44704aull, 0x00efbd63fd6d304bull,
	0x1e8f6252056e795full, 0x292465af88bae622ull, 0x1ab0a955b2f39f16ull,
	0xced469ff837a7ad5ull, 0x2f8f5c6aa45181d2ull, 0xa87ff8cf115bb115ull,
	0x03af68cc10f02cccull, 0xbc19bcebb4e2a352ull, 0x7ffa2cc6f3e30375ull,
	0xd830a582a4c47d8full, 0xce7f0a1f58bb8168ull, 0x50c070a20ca1c057ull,
	0xbef678bfe5f609fcull, 0xaa255c1f95a0ccb1ull, 0x523d696b1a62ab0cull,
	0x13aa3e05a6550bb7ull, 0x27c6a869a22dd775ull, 0xd0cc742263c71a37ull,
	0xf14530baf9b8d2d4ull, 0xd9570f9b31bb7626ull, 0x68b670ceb9edc87full,
	0xb0a19af1fdc27459ull, 0x2297b4db71ed8dffull, 0xd5e91ef7039f9368ull,
	0x679ff062bec5ac84ull, 0x5221e7ee8673d638ull, 0x3674797cafd89634ull,
	0xcf0a0bba4296ee1dull, 0x68f5aa5174c6508full, 0x6024aa2639927abfull,
	0x8b0d26bf2c6565a9ull, 0xc1c80534962f6466ull, 0xa8f9d839153b8735ull,
	0xd414e171709f78e2ull, 0x6748dea4c4e13a80ull, 0x9225ec29e9a6b0e8ull,
	0x66ecf0ed916f1502ull, 0x26e091ab35486981ull, 0xab5745e8a05714cfull,
	0x7d838908b2889bf7ull, 0x8476a068a4a7e944ull, 0x3498ff1d778dc3b6ull,
	0x61abed5e667b3acbull, 0x1d25c43e6f069694ull, 0x084b8e13d5d1acf4ull,
	0x75b2de81c76e01ceull, 0x56c4355f77f7061cull, 0xd9df7cc08be923b5ull,
	0xe8fa339b94d4defeull, 0xeb22fa69897aa0c0ull, 0xb94957ee8d302017ull,
	0x46817a6a03f9a8e1ull, 0x380fd69478a0a499ull, 0xc738b2fa152f139bull,
	0x2b15a1e72f55a0e6ull, 0xa3af7d567c750cbbull, 0x8361c2d76416384aull,
	0x6fa0bafd8801fb0bull, 0x8917120de3477fc2ull, 0xbd30eb99e24f6b0full,
	0x6fe831df44ff2af8ull, 0x5a689120c40ff273ull, 0xed0fa2b53fdc7528ull,
	0xd07a1ee6f5ab5ac0ull, 0x744a2e26f75d8828ull, 0xa609a7caeda4839dull,
	0xf3f6a8c66c584945ull, 0x5ad850fb10bcb5ceull, 0x542d375163a63746ull,
	0x4bb3862e9f5d9c48ull, 0xccd6fe7be315d027ull, 0xc390fad0002d3908ull,
	0x78537e867c59d36aull, 0x4eb98b9865da955dull, 0xaa58580531d71f1bull,
	0x25e7bf302f4feaf4ull, 0xbc826c144683dac1ull, 0x4a223c5ceaba5b90ull,
	0xb5aa99748c4e17b5ull, 0xf5f59ac18e2bc6c1ull, 0xc7b7902069e984ccull,
	0x5192967b033dc86eull, 0xcf0c1e441390bafbull, 0x83663b245ce1f2e3ull,
	0xdc3160a386c52a1bull, 0xddd1eeed21857e52ull, 0x31fe8a4416368211ull,
	0x0660452d6e484f4bull, 0x6101fca2ba9d0877ull, 0xa686429c9ae141f9ull,
	0xaad13051778276f1ull, 0x88591452ef66762dull, 0xec86ca3813458fb1ull,
	0x7c533293af778d5bull, 0xf23418bf0d2cb7d7ull, 0x4d1aa73afa5a88d9ull,
	0x54992a48a768144bull, 0x2d04a51932c5a954ull, 0xf56408e3127c4ff0ull,
	0x824237fadda28649ull, 0xd5a06b7a21585cf5ull, 0x15e154ed3bd1edd0ull,
	0x824ef48197a3a32dull, 0x32a15e53dbc6fe51ull, 0xb00b4606f1c1d50dull,
	0x68dde6683b92d4bbull, 0x8cbfc61b2d4c14a9ull, 0x6fdac116f5038ed1ull,
	0xa46af8be8b969726ull, 0x69bc1c590cec2994ull, 0xccf8ef8c7aa78861ull,
	0xa912a8d59b9a4354ull, 0x05debaca78b9c4d8ull, 0x7124394bad6f9005ull,
	0x7ef774745efbe558ull, 0x8783c1d42dd9863aull, 0x4f08d2389260424full,
	0x29a98c8f7fdc8e3dull, 0xceb44d77663b6fa8ull, 0x469fa6fa0b6b6de5ull,
	0x2df3fee27dc19f2aull, 0x39dfb8c664411712ull, 0x0074c6564fc68456ull,
	0xa312596f214f075bull, 0x0b297ca6fcea46cbull, 0x83edb95ff9ab0fbbull,
	0x3de43d29cd3017e6ull, 0x98cfc882d762e016ull, 0x2653e2dee154a0bcull,
	0x0956ad81c3fa91b2ull, 0x530b7671f80f03a9ull, 0xe15d872c067865eeull,
	0xd3af97a1d446121cull, 0xbe196494db4ec394ull, 0x8de0be1f6c598177ull,
	0x72f660941fcaf5bbull, 0x06f9224705727f16ull, 0x4e5cbc9e33e08071ull,
	0xe20daf3248877360ull, 0x7c9326f44c9fd75eull, 0xfeff7fb9f4954f74ull,
	0x605d5fffdeb84da6ull, 0x4594270153cff9b6ull, 0xdb4140f83b71aeefull,
	0xc6ef01edd424587dull, 0xb95b2e2bfc753d67ull, 0xb68d776ec69fa536ull,
	0xd0f23e6bed467c89ull, 0x28955672e6e68457ull, 0xc7b3e3ff024b4d56ull,
	0x62c8c0e88ed5f3d6ull, 0xe56ad737690d1cfcull, 0x969dc1f9c0d296faull,
	0xb77ee9c4ec1b40b7ull, 0xecd67fd6281ae4a6ull, 0x7308194c77bd2fb2ull,
	0x37c9f514d3e61fffull, 0x67a778f1ac377ae4ull, 0x0890eeb89711a4dfull,
	0x113b74342d29be61ull, 0x46eed6790302997bull, 0x2175568e6697a5c3ull,
	0x5a30576d7081ed1dull, 0x0f4b58b4f3118c1cull, 0x8eb50d3c8d9a134cull,
	0x2f0ca8167d5fff54ull, 0xede3126f2237d94aull, 0xb527a037c3da7968ull,
	0x6d75008cba47fd81ull,
};

void cs_chunker_params_default(cs_chunker_params *p)
{
	p->min_size = CS_CHUNK_MIN_DEFAULT;
	p->avg_size = CS_CHUNK_AVG_DEFAULT;
	p->max_size = CS_CHUNK_MAX_DEFAULT;
}

/* A mask of the top `ones` bits of a 64-bit word. */
static uint64_t top_mask(unsigned ones)
{
	return ~UINT64_C(0) << (64 - ones);
}

static unsigned log2_exact(uint32_t v)
{
	unsigned b = 0;
	while ((UINT32_C(1) << b) < v)
		b++;
	return b;
}

/*
 * Roll the fingerprint over data[i, end) and return the first position
 * whose fingerprint has no bit of mask set, or end (*fp then holds the
 * fingerprint after end - 1). One byte per step: the compiler makes the
 * roll one LEA per byte, and the processor runs a few bytes' loads, tests
 * and branches at once; rolling two bytes per step, or several runs side
 * by side, adds instructions per byte and measured slower.
 */
static size_t gear_scan(uint64_t *fpp, const uint8_t *data, size_t i, size_t end, uint64_t mask)
{
	uint64_t fp = *fpp;
	for (; i < end; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & mask))
			break;
	}
	*fpp = fp;
	return i;
}

size_t cs_chunker_next(const cs_chunker_params *p, const uint8_t *data, size_t len, int at_eof)
{
	/* Bad parameters are a programming error, not input. */
	assert(p->avg_size >= 8 && p->avg_size <= (UINT32_C(1) << 30));
	assert((p->avg_size & (p->avg_size - 1)) == 0);
	assert(p->min_size <= p->avg_size && p->avg_size <= p->max_size && p->max_size > 0);

	if (len == 0)
		return 0;
	size_t min = p->min_size, max = p->max_size;
	size_t end = len < max ? len : max;
	if (end <= min)
		return (at_eof || len >= max) ? end : 0;

	unsigned bits = log2_exact(p->avg_size);
	const uint64_t mask_s = top_mask(bits + 2);
	const uint64_t mask_l = top_mask(bits - 2);
	size_t normal = p->avg_size < end ? p->avg_size : end;
	uint64_t fp = 0;
	size_t i = min;

	/* The bytes before min_size are not hashed: no cut may fall there, and
	 * the fingerprint forgets them within 64 bytes anyway. */
	i = gear_scan(&fp, data, i, normal, mask_s);
	if (i < normal)
		return i + 1;
	i = gear_scan(&fp, data, i, end, mask_l);
	if (i < end)
		return i + 1;
	/* No cut point: a forced cut at max_size, the tail of the stream, or a
	 * request for more bytes. Cuts depend only on data[0..cut), so a later
	 * call with more data repeats the same decisions up to here. */
	if (at_eof || end == max)
		return end;
	return 0;
}
