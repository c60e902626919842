// Workgroup-wide helpers shared by scan.wgsl and sort.wgsl; the host prepends
// this file to each of them.

const WORKGROUP_SIZE: u32 = 256u;

var<workgroup> prefix_low: array<vec4<u32>, WORKGROUP_SIZE>;
var<workgroup> prefix_high: array<vec4<u32>, WORKGROUP_SIZE>;

// The index of a workgroup in a 2D grid of them (one dimension holds at most 65,535).
fn workgroup_index(group: vec3<u32>, groups: vec3<u32>) -> u32 {
    return group.x + group.y * groups.x;
}

// Eight sums at once (as two vec4s): for each, its sum over the invocations
// before this one (a Hillis–Steele scan). Every invocation must call it: it has
// barriers. The sums over the whole workgroup are in the last invocation's
// `result + value`.
fn workgroup_prefix_sums(lane: u32, low: vec4<u32>, high: vec4<u32>) -> array<vec4<u32>, 2> {
    prefix_low[lane] = low;
    prefix_high[lane] = high;
    workgroupBarrier();
    for (var offset = 1u; offset < WORKGROUP_SIZE; offset <<= 1u) {
        var sum_low = prefix_low[lane];
        var sum_high = prefix_high[lane];
        if lane >= offset {
            sum_low += prefix_low[lane - offset];
            sum_high += prefix_high[lane - offset];
        }
        workgroupBarrier();
        prefix_low[lane] = sum_low;
        prefix_high[lane] = sum_high;
        workgroupBarrier();
    }
    let result = array<vec4<u32>, 2>(prefix_low[lane] - low, prefix_high[lane] - high);
    workgroupBarrier();
    return result;
}
