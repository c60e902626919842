// Workgroup-wide helpers shared by scan.wgsl and sort.wgsl; the host prepends
// this file to each of them.

const WORKGROUP_SIZE: u32 = 256u;

var<workgroup> prefix_scratch: array<u32, WORKGROUP_SIZE>;

// The index of a workgroup in a 2D grid of them (one dimension holds at most 65,535).
fn workgroup_index(group: vec3<u32>, groups: vec3<u32>) -> u32 {
    return group.x + group.y * groups.x;
}

// The sum of `value` over the invocations before this one, and over the whole
// workgroup (a Hillis–Steele scan). Every invocation must call it: it has barriers.
fn workgroup_prefix_sum(lane: u32, value: u32) -> vec2<u32> {
    prefix_scratch[lane] = value;
    workgroupBarrier();
    for (var offset = 1u; offset < WORKGROUP_SIZE; offset <<= 1u) {
        var sum = prefix_scratch[lane];
        if lane >= offset {
            sum += prefix_scratch[lane - offset];
        }
        workgroupBarrier();
        prefix_scratch[lane] = sum;
        workgroupBarrier();
    }
    let result = vec2<u32>(prefix_scratch[lane] - value, prefix_scratch[WORKGROUP_SIZE - 1u]);
    workgroupBarrier();
    return result;
}
