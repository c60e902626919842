#!/usr/bin/env python3
"""Writes tests/fixtures/capture-import: tiny multi-view captures in the two
layouts `gspeech capture import` reads, and what importing them must give,
computed here with numpy alone.

    python3 scripts/make-capture-fixtures.py     # needs numpy

    flame.npz                      a synthetic model in FLAME's layout (the one
                                   nodes/src/face/flame.rs tests with): 8
                                   vertices, FLAME's 5 joints, 3 identity and 2
                                   expression directions
    gaussian-avatars/              VHAP's export as GaussianAvatars reads it:
        transforms_{train,val,test}.json
        images/TTTTT_CC.png, fg_masks/TTTTT_CC.png, flame_param/TTTTT.npz
    gaussian-avatars.expected.json
    transforms/                    NeRF transforms.json with one mesh per timestep:
        transforms.json, images/camN/TTTTT.png,
        meshes/TTTTT.obj (named by the frames' mesh_path), meshes-ply/TTTTT.ply
    transforms.expected.json

GaussianAvatars layout: 3 cameras, 3 timesteps; timesteps 0-1 are training
timesteps, seen by cameras 0-1 in transforms_train.json and by the held-out
camera 2 in transforms_val.json; timestep 2 is a test timestep, seen by every
camera in transforms_test.json (VHAP's split_json). Cameras are c2w matrices
in OpenGL axes; fl_x, fl_y, cx, cy are VHAP's, whose cy counts from the
bottom of the image (VHAP flips it with the axes). Each timestep's FLAME
parameters are float32 arrays shaped as VHAP writes them, with a static
offset for FLAME's vertices plus GaussianAvatars' 120 teeth vertices.

Transforms layout: 2 cameras, 3 timesteps, one transforms.json. A shared
`camera_angle_x` and image sizes read from the images for camera 0, full
per-frame `fl_x fl_y cx cy w h` for camera 1 (cy from the top, as
instant-ngp and nerfstudio write it); camera 0's file paths have no
extension (the Blender datasets' habit). Meshes: 8 vertices of two quads and
two triangles, as OBJ and as binary PLY.

The expected files hold, per camera, the world-to-camera matrix in OpenCV
axes (the matrix the cameras were made from, checked here against
numpy.linalg.inv of the converted c2w) and the intrinsics; per frame, its
split, time, expression codes and mesh (for FLAME, posed here by numpy's own
linear blend skinning). Zip entries carry a fixed date, so the output is the
same on every run.
"""

import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "capture-import")
W, H = 12, 8
FPS = 25.0
TEETH = 120


# ---------------------------------------------------------------- files


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "w" if isinstance(data, str) else "wb"
    with open(path, mode) as f:
        f.write(data)


def png(pixels):
    """PNG bytes of uint8 pixels, [H, W] grey or [H, W, 3] RGB."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape[:2]
    color = {2: 0, 3: 2}[pixels.ndim]
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def savez(path, **arrays):
    """numpy.savez's layout (stored .npy entries) with a fixed entry date."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for name, array in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asarray(array))
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), entry.getvalue())
    write(path, buffer.getvalue())


def image(camera, timestep):
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 20 + camera * 7, y * 30 + timestep * 11, (x + y) * 9 + camera * 40 + timestep * 3], -1)
    return (rgb % 256).astype(np.uint8)


def mask(camera, timestep):
    y, x = np.mgrid[0:H, 0:W]
    return np.where((x - 6) ** 2 + (y - 4) ** 2 < 9 + camera + timestep, 255, 0).astype(np.uint8)


# ---------------------------------------------------------------- cameras


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)):
    """World-to-camera in OpenCV axes (x right, y down, z forward)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    w2c = np.eye(4)
    w2c[:3, :3] = np.stack([right, down, forward])
    w2c[:3, 3] = -w2c[:3, :3] @ eye
    return w2c


def c2w_opengl(w2c):
    """NeRF's transform_matrix: camera-to-world with the camera's y and z flipped (OpenGL axes)."""
    c2w = np.linalg.inv(w2c)
    c2w[:3, 1:3] *= -1
    return c2w


def w2c_from_opengl(c2w):
    """The independent check of the importers' conversion (GaussianAvatars' own recipe)."""
    c2w = np.array(c2w, dtype=np.float64)
    c2w[:3, 1:3] *= -1
    return np.linalg.inv(c2w)


def camera_record(name, w2c, fx, fy, cx, cy, held_out):
    return {
        "name": name,
        "width": W,
        "height": H,
        "fx": fx,
        "fy": fy,
        "cx": cx,
        "cy": cy,
        "world_to_camera": w2c.tolist(),
        "held_out": held_out,
    }


# ---------------------------------------------------------------- FLAME


def synthetic_flame():
    """The FLAME-layout model of nodes/src/face/flame.rs's tests, with pose correctives."""
    v, j = 8, 5
    i = np.arange(v * 3)
    template = ((i * 7 % 11) / 5.0 - 1.0).reshape(v, 3)
    i = np.arange(v * 3 * 5)
    shapedirs = ((i * 13 % 17) / 40.0 - 0.2).reshape(v, 3, 5)
    i = np.arange(v * 3 * 36)
    posedirs = ((i * 5 % 9) / 90.0).reshape(v, 3, 36)
    regressor = np.zeros((j, v))
    for joint, vertices in [(0, [0, 1, 2, 3]), (1, [6]), (2, [4, 5]), (3, [7]), (4, [7])]:
        regressor[joint, vertices] = 1.0 / len(vertices)
    weights = np.zeros((v, j))
    for vertex, joint, w in [(0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 0, 1), (4, 2, 1), (5, 2, 1), (6, 1, 0.5), (6, 2, 0.5), (7, 3, 1)]:
        weights[vertex, joint] = w
    return {
        "v_template": template.astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "f": np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [5, 6, 7]], dtype=np.int64),
        "mask_lips": np.array([4, 5], dtype=np.int64),
    }


def rodrigues(r):
    angle = np.linalg.norm(r)
    if angle < 1e-8:
        return np.eye(3)
    k = r / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def flame_forward(model, params):
    """FLAME posed by one timestep's parameters, as GaussianAvatars' FlameHead does:
    template + shape and expression blend + static offset, joints regressed from
    that, pose correctives, linear blend skinning down the kinematic tree, then
    the translation. Computed in float64 from the stored float32 values."""
    f64 = {k: np.asarray(v, dtype=np.float64) for k, v in model.items()}
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    v = f64["v_template"].shape[0]
    betas = np.concatenate([p["shape"].ravel(), p["expr"].ravel()])
    shaped = f64["v_template"] + f64["shapedirs"][:, :, : betas.size] @ betas
    shaped = shaped + p["static_offset"].reshape(-1, 3)[:v]
    joints = f64["J_regressor"] @ shaped
    pose = np.concatenate([p["rotation"].ravel(), p["neck_pose"].ravel(), p["jaw_pose"].ravel(), p["eyes_pose"].ravel()])
    rotations = [rodrigues(pose[3 * k : 3 * k + 3]) for k in range(5)]
    feature = np.concatenate([(r - np.eye(3)).ravel() for r in rotations[1:]])
    posed = shaped + (f64["posedirs"].reshape(v * 3, -1) @ feature).reshape(v, 3)
    parents = model["kintree_table"][0]
    world = []
    for k in range(5):
        local = np.eye(4)
        local[:3, :3] = rotations[k]
        local[:3, 3] = joints[k] - (joints[parents[k]] if k > 0 else 0)
        world.append(local if k == 0 else world[parents[k]] @ local)
    skinning = []
    for k in range(5):
        a = world[k].copy()
        a[:3, 3] -= world[k][:3, :3] @ joints[k]
        skinning.append(a)
    per_vertex = np.einsum("vj,jab->vab", f64["weights"], np.stack(skinning))
    homogeneous = np.concatenate([posed, np.ones((v, 1))], 1)
    out = np.einsum("vab,vb->va", per_vertex, homogeneous)[:, :3]
    return out + p["translation"].ravel()


def gaussian_avatars(model):
    root = os.path.join(ROOT, "gaussian-avatars")
    cameras = [
        # (id, eye, fl_x, fl_y, cx, cy) with cy counted from the top (OpenCV).
        ("222200037", (-2.0, 0.3, 4.0), 14.0, 14.5, 5.8, 4.2),
        ("222200038", (2.5, -0.2, 3.5), 13.0, 13.0, 6.3, 3.7),
        ("222200039", (0.2, 0.5, 4.5), 15.0, 15.25, 6.0, 4.0),
    ]
    timesteps = 3
    rng = np.random.default_rng(7)
    static_offset = (rng.standard_normal((1, 8 + TEETH, 3)) * 0.01).astype(np.float32)
    shape = np.array([0.4, -0.6, 0.25], dtype=np.float32)
    params = []
    for t in range(timesteps):
        p = {
            "translation": np.array([[0.02 * t, -0.01, 0.03]], dtype=np.float32),
            "rotation": np.array([[0.05 * t, -0.1, 0.02]], dtype=np.float32),
            "neck_pose": np.array([[0.1, 0.05 * t, 0.0]], dtype=np.float32),
            "jaw_pose": np.array([[0.2 + 0.1 * t, 0.0, 0.01]], dtype=np.float32),
            "eyes_pose": np.array([[0.0, 0.1, 0.0, 0.0, 0.1 * t, 0.0]], dtype=np.float32),
            "shape": shape,
            "expr": np.array([[0.5 - 0.3 * t, 0.2 * t]], dtype=np.float32),
            "static_offset": static_offset,
            "dynamic_offset": np.zeros((1, 8 + TEETH, 3), dtype=np.float32),
        }
        savez(os.path.join(root, "flame_param", f"{t:05d}.npz"), **p)
        params.append(p)
    # VHAP also writes the canonical parameters; importers have no use for them.
    savez(os.path.join(root, "canonical_flame_param.npz"), **{k: v for k, v in params[0].items() if k != "dynamic_offset"})

    divisions = {"train": [], "val": [], "test": []}
    for t in range(timesteps):
        for c, (camera_id, eye, fl_x, fl_y, cx, cy) in enumerate(cameras):
            division = "test" if t == 2 else ("val" if c == 2 else "train")
            name = f"{t:05d}_{c:02d}.png"
            write(os.path.join(root, "images", name), png(image(c, t)))
            write(os.path.join(root, "fg_masks", name), png(mask(c, t)))
            divisions[division].append(
                {
                    "timestep_index": t,
                    "timestep_index_original": t * 3,
                    "timestep_id": f"frame_{t * 3:05d}",
                    "camera_index": c,
                    "camera_id": camera_id,
                    "cx": cx,
                    "cy": H - cy,
                    "fl_x": fl_x,
                    "fl_y": fl_y,
                    "h": H,
                    "w": W,
                    "camera_angle_x": 2 * np.arctan(W / (2 * fl_x)),
                    "camera_angle_y": 2 * np.arctan(H / (2 * fl_y)),
                    "transform_matrix": c2w_opengl(look_at(eye)).tolist(),
                    "file_path": f"images/{name}",
                    "fg_mask_path": f"fg_masks/{name}",
                    "flame_param_path": f"flame_param/{t:05d}.npz",
                }
            )
    for division, frames in divisions.items():
        last = frames[-1]
        document = {k: last[k] for k in ("cx", "cy", "fl_x", "fl_y", "h", "w", "camera_angle_x", "camera_angle_y")}
        document["frames"] = frames
        document["timestep_indices"] = sorted({f["timestep_index"] for f in frames})
        document["camera_indices"] = sorted({f["camera_index"] for f in frames})
        write(os.path.join(root, f"transforms_{division}.json"), json.dumps(document, indent=4))

    records = []
    for c, (camera_id, eye, fl_x, fl_y, cx, cy) in enumerate(cameras):
        w2c = look_at(eye)
        frame = next(f for d in divisions.values() for f in d if f["camera_index"] == c)
        assert np.allclose(w2c_from_opengl(frame["transform_matrix"]), w2c, atol=1e-12)
        records.append(camera_record(camera_id, w2c, fl_x, fl_y, cx, cy, held_out=c == 2))
    expected = {
        "cameras": records,
        "frames": [
            {
                "index": t,
                "time": t / FPS,
                "split": "test" if t == 2 else "train",
                "weights": params[t]["expr"].ravel().tolist(),
                "vertices": flame_forward(model, params[t]).tolist(),
                "images": [f"images/{t:05d}_{c:02d}.png" for c in range(len(cameras))],
                "masks": [f"fg_masks/{t:05d}_{c:02d}.png" for c in range(len(cameras))],
            }
            for t in range(timesteps)
        ],
    }
    write(os.path.join(ROOT, "gaussian-avatars.expected.json"), json.dumps(expected, indent=1) + "\n")


# ---------------------------------------------------------------- transforms.json + meshes

# Two quads and two triangles over 8 vertices.
FACES = [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6], [5, 7, 6]]


def mesh(t):
    i = np.arange(8)
    base = np.stack([i % 2 * 0.1 - 0.05, i // 2 * 0.05 - 0.1, (i * 3 % 5) * 0.01], -1)
    motion = np.stack([np.zeros(8), np.full(8, 0.005 * t), 0.002 * t * (i % 3)], -1)
    return (base + motion).astype(np.float32)


def obj(vertices):
    lines = ["# a tracked mesh"] + [f"v {x!r} {y!r} {z!r}" for x, y, z in vertices.tolist()]
    lines += ["f " + " ".join(str(k + 1) for k in face) for face in FACES]
    return "\n".join(lines) + "\n"


def ply(vertices):
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment a tracked mesh\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(FACES)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    body = vertices.astype("<f4").tobytes()
    for face in FACES:
        body += struct.pack("<B", len(face)) + np.array(face, dtype="<i4").tobytes()
    return header.encode() + body


def transforms():
    root = os.path.join(ROOT, "transforms")
    angle_x = 1.2
    shared_focal = W / 2 / np.tan(angle_x / 2)
    cameras = [
        # (eye, per-frame intrinsics or None for the shared ones)
        ((0.1, 0.05, 0.6), None),
        ((-0.4, -0.1, 0.5), (11.0, 11.5, 6.5, 3.5)),
    ]
    timesteps = 3
    frames = []
    for t in range(timesteps):
        write(os.path.join(root, "meshes", f"{t:05d}.obj"), obj(mesh(t)))
        write(os.path.join(root, "meshes-ply", f"{t:05d}.ply"), ply(mesh(t)))
        for c, (eye, intrinsics) in enumerate(cameras):
            write(os.path.join(root, "images", f"cam{c}", f"{t:05d}.png"), png(image(c, t)))
            frame = {
                "file_path": f"./images/cam{c}/{t:05d}" + ("" if intrinsics is None else ".png"),
                "transform_matrix": c2w_opengl(look_at(eye)).tolist(),
                "timestep": t,
                "camera_index": c,
                "mesh_path": f"meshes/{t:05d}.obj",
            }
            if intrinsics is not None:
                fl_x, fl_y, cx, cy = intrinsics
                frame.update({"fl_x": fl_x, "fl_y": fl_y, "cx": cx, "cy": cy, "w": W, "h": H})
            frames.append(frame)
    write(os.path.join(root, "transforms.json"), json.dumps({"camera_angle_x": angle_x, "frames": frames}, indent=2))

    records = []
    for c, (eye, intrinsics) in enumerate(cameras):
        w2c = look_at(eye)
        assert np.allclose(w2c_from_opengl(frames[c]["transform_matrix"]), w2c, atol=1e-12)
        fx, fy, cx, cy = intrinsics or (shared_focal, shared_focal, W / 2, H / 2)
        records.append(camera_record(f"cam{c:02d}", w2c, fx, fy, cx, cy, held_out=False))
    expected = {
        "cameras": records,
        "frames": [
            {
                "index": t,
                "time": t / FPS,
                "split": "train",
                "vertices": mesh(t).astype(np.float64).tolist(),
                "images": [f"images/cam{c}/{t:05d}.png" for c in range(len(cameras))],
            }
            for t in range(timesteps)
        ],
    }
    write(os.path.join(ROOT, "transforms.expected.json"), json.dumps(expected, indent=1) + "\n")


def main():
    model = synthetic_flame()
    savez(os.path.join(ROOT, "flame.npz"), **model)
    gaussian_avatars(model)
    transforms()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote {os.path.normpath(ROOT)} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
