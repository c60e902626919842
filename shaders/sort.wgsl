// A stable least-significant-digit radix sort of u32 keys carrying u32 values,
// four bits per pass. Each pass runs three steps over blocks of 1,024 keys:
// `count_digits` makes each block's histogram of the pass's digit, stored
// digit-major (`histogram[digit · blocks + block]`); an exclusive prefix sum of
// the histogram (scan.wgsl) turns the counts into each block's first output
// position per digit; `scatter` then moves every key to its place.
//
// In `scatter` each invocation holds four consecutive keys and counts their
// digits in sixteen 16-bit counters packed into eight words; one workgroup
// prefix sum of those counters gives every key its rank among the equal
// digits before it in the block, so equal digits keep their order (the sort
// is stable) with a single scan per block. Needs workgroup.wgsl.

const PER_THREAD: u32 = 4u;
const BLOCK: u32 = 1024u;
const DIGITS: u32 = 16u;

struct SortParams {
    // Number of keys.
    count: u32,
    // The lowest bit of this pass's digit.
    shift: u32,
    // Number of blocks: ceil(count / BLOCK).
    blocks: u32,
}

@group(0) @binding(0) var<uniform> params: SortParams;
@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> histogram: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> values_out: array<u32>;

var<workgroup> digit_counts: array<atomic<u32>, DIGITS>;
var<workgroup> write_positions: array<u32, DIGITS>;

fn digit_of(key: u32) -> u32 {
    return (key >> params.shift) & (DIGITS - 1u);
}

@compute @workgroup_size(256)
fn count_digits(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    if lane < DIGITS {
        atomicStore(&digit_counts[lane], 0u);
    }
    workgroupBarrier();
    for (var k = 0u; k < PER_THREAD; k++) {
        let index = block * BLOCK + k * WORKGROUP_SIZE + lane;
        if index < params.count {
            atomicAdd(&digit_counts[digit_of(keys_in[index])], 1u);
        }
    }
    workgroupBarrier();
    if lane < DIGITS && block < params.blocks {
        histogram[lane * params.blocks + block] = atomicLoad(&digit_counts[lane]);
    }
}

// Counter `digit` of eight words holding sixteen 16-bit counters.
fn counter(words: array<vec4<u32>, 2>, digit: u32) -> u32 {
    let word = digit / 2u;
    return (words[word / 4u][word % 4u] >> (16u * (digit % 2u))) & 0xffffu;
}

@compute @workgroup_size(256)
fn scatter(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    if lane < DIGITS && block < params.blocks {
        write_positions[lane] = histogram[lane * params.blocks + block];
    }
    let first = block * BLOCK + lane * PER_THREAD;
    var keys: array<u32, PER_THREAD>;
    var ranks: array<u32, PER_THREAD>;
    var counts = array<vec4<u32>, 2>(vec4<u32>(0u), vec4<u32>(0u));
    for (var k = 0u; k < PER_THREAD; k++) {
        if first + k < params.count {
            keys[k] = keys_in[first + k];
            let digit = digit_of(keys[k]);
            ranks[k] = counter(counts, digit);
            let word = digit / 2u;
            counts[word / 4u][word % 4u] += 1u << (16u * (digit % 2u));
        }
    }
    let before = workgroup_prefix_sums(lane, counts[0], counts[1]);
    for (var k = 0u; k < PER_THREAD; k++) {
        if first + k < params.count {
            let digit = digit_of(keys[k]);
            let destination = write_positions[digit] + counter(before, digit) + ranks[k];
            keys_out[destination] = keys[k];
            values_out[destination] = values_in[first + k];
        }
    }
}
