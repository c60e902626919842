// Binning: after the splats are sorted by depth, each one writes a (tile,
// splat) pair for every tile its rectangle covers, in depth order, at the
// offset given by the prefix sum of the tile counts. A stable sort of the
// pairs by tile then leaves every tile's splats contiguous and front to back,
// and `tile_ranges` finds where each tile's run starts and ends.

struct Counts {
    // Visible splats (gather, emit) or tile-splat pairs (ranges).
    count: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<uniform> counts: Counts;
@group(0) @binding(2) var<storage, read> depth_ids: array<u32>;
@group(0) @binding(3) var<storage, read> tile_rects: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(5) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(6) var<storage, read_write> tile_keys: array<u32>;
@group(0) @binding(7) var<storage, read_write> tile_ids: array<u32>;
@group(0) @binding(8) var<storage, read_write> tile_ranges: array<vec2<u32>>;

// The tile count of the splat at each depth rank (the prefix sum of these gives `offsets`).
@compute @workgroup_size(256)
fn gather_counts(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let rank = linear_index(id, groups);
    if rank < counts.count {
        offsets[rank] = tile_counts[depth_ids[rank]];
    }
}

// One (tile, splat) pair per covered tile, in depth order.
@compute @workgroup_size(256)
fn emit_pairs(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let rank = linear_index(id, groups);
    if rank >= counts.count {
        return;
    }
    let splat = depth_ids[rank];
    if tile_counts[splat] == 0u {
        return;
    }
    let rect = tile_rects[splat];
    var at = offsets[rank];
    for (var y = rect.y; y < rect.w; y++) {
        for (var x = rect.x; x < rect.z; x++) {
            tile_keys[at] = y * frame.tiles.x + x;
            tile_ids[at] = splat;
            at++;
        }
    }
}

// Where each tile's run of pairs starts and ends (tiles without pairs keep [0, 0)).
@compute @workgroup_size(256)
fn find_ranges(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(id, groups);
    if i >= counts.count {
        return;
    }
    let tile = tile_keys[i];
    if i == 0u || tile_keys[i - 1u] != tile {
        tile_ranges[tile].x = i;
    }
    if i + 1u == counts.count || tile_keys[i + 1u] != tile {
        tile_ranges[tile].y = i + 1u;
    }
}
