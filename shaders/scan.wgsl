// Exclusive prefix sums of u32 arrays of any length. `scan_blocks` scans each
// block of 1,024 values in place and writes the block's total to `sums`; the
// host scans `sums` the same way (recursively) and `add_block_offsets` then
// adds each block's scanned total to its values. Needs workgroup.wgsl.

const PER_THREAD: u32 = 4u;
const BLOCK: u32 = 1024u;

struct ScanParams {
    // Number of values in `data`.
    count: u32,
}

@group(0) @binding(0) var<uniform> params: ScanParams;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;

@compute @workgroup_size(256)
fn scan_blocks(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    // Each invocation sums four consecutive values, then the workgroup scans the sums.
    let base = block * BLOCK + lane * PER_THREAD;
    var before: array<u32, PER_THREAD>;
    var total = 0u;
    for (var k = 0u; k < PER_THREAD; k++) {
        before[k] = total;
        if base + k < params.count {
            total += data[base + k];
        }
    }
    let prefix = workgroup_prefix_sums(lane, vec4<u32>(total, 0u, 0u, 0u), vec4<u32>(0u))[0].x;
    for (var k = 0u; k < PER_THREAD; k++) {
        if base + k < params.count {
            data[base + k] = prefix + before[k];
        }
    }
    if lane == WORKGROUP_SIZE - 1u && block * BLOCK < params.count {
        sums[block] = prefix + total;
    }
}

@compute @workgroup_size(256)
fn add_block_offsets(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    if block * BLOCK >= params.count {
        return;
    }
    let offset = sums[block];
    for (var k = 0u; k < PER_THREAD; k++) {
        let index = block * BLOCK + k * WORKGROUP_SIZE + lane;
        if index < params.count {
            data[index] += offset;
        }
    }
}
