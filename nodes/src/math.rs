//! Small 3D vector, matrix and quaternion helpers on plain arrays, shared by the
//! cameras, the renderers and the avatar binding. Matrices are row-major
//! `[row][column]`; quaternions are `[w, x, y, z]`.

/// A 3-vector.
pub type Vec3 = [f32; 3];
/// A row-major 3×3 matrix.
pub type Mat3 = [[f32; 3]; 3];
/// A quaternion `[w, x, y, z]`.
pub type Quat = [f32; 4];

/// `a + b`.
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `a − b`.
pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `a · s`.
pub fn scale(a: Vec3, s: f32) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// The dot product.
pub fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The cross product `a × b`.
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The Euclidean length.
pub fn length(a: Vec3) -> f32 {
    dot(a, a).sqrt()
}

/// `a` scaled to unit length, or `None` when it is (almost) zero.
pub fn normalize(a: Vec3) -> Option<Vec3> {
    let len = length(a);
    (len > 1e-12 && len.is_finite()).then(|| scale(a, 1.0 / len))
}

/// `m · v`.
pub fn mul_vec(m: &Mat3, v: Vec3) -> Vec3 {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

/// The transpose.
pub fn transpose(m: &Mat3) -> Mat3 {
    [0, 1, 2].map(|r| [0, 1, 2].map(|c| m[c][r]))
}

/// `a · b`.
pub fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    [0, 1, 2].map(|r| [0, 1, 2].map(|c| a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c]))
}

/// The rotation matrix of a unit quaternion.
pub fn quat_to_mat(q: Quat) -> Mat3 {
    let [w, x, y, z] = q;
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// The unit quaternion of a rotation matrix (Shepperd's method: the largest of
/// the four diagonal combinations picks a numerically safe branch), with `w ≥ 0`.
pub fn mat_to_quat(m: &Mat3) -> Quat {
    let trace = m[0][0] + m[1][1] + m[2][2];
    let q = if trace > 0.0 {
        let s = 2.0 * (1.0 + trace).sqrt();
        [
            0.25 * s,
            (m[2][1] - m[1][2]) / s,
            (m[0][2] - m[2][0]) / s,
            (m[1][0] - m[0][1]) / s,
        ]
    } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
        let s = 2.0 * (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt();
        [
            (m[2][1] - m[1][2]) / s,
            0.25 * s,
            (m[0][1] + m[1][0]) / s,
            (m[0][2] + m[2][0]) / s,
        ]
    } else if m[1][1] > m[2][2] {
        let s = 2.0 * (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt();
        [
            (m[0][2] - m[2][0]) / s,
            (m[0][1] + m[1][0]) / s,
            0.25 * s,
            (m[1][2] + m[2][1]) / s,
        ]
    } else {
        let s = 2.0 * (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt();
        [
            (m[1][0] - m[0][1]) / s,
            (m[0][2] + m[2][0]) / s,
            (m[1][2] + m[2][1]) / s,
            0.25 * s,
        ]
    };
    let sign = if q[0] < 0.0 { -1.0 } else { 1.0 };
    let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt() * sign;
    q.map(|v| v / norm)
}

/// The Hamilton product `a ⊗ b` (rotate by `b`, then by `a`).
pub fn quat_mul(a: Quat, b: Quat) -> Quat {
    let [aw, ax, ay, az] = a;
    let [bw, bx, by, bz] = b;
    [
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Mat3, b: &Mat3) -> bool {
        (0..3).all(|r| (0..3).all(|c| (a[r][c] - b[r][c]).abs() < 1e-5))
    }

    #[test]
    fn quaternions_and_matrices_agree() {
        // Every branch of the conversion: rotations by 0, 90 and 180 degrees about each axis, and a generic one.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let quats = [
            [1.0, 0.0, 0.0, 0.0],
            [s, s, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.5, -0.5, 0.5, 0.5],
            [0.2, 0.4, -0.8, 0.4],
        ];
        for q in quats {
            let norm = q.iter().map(|v: &f32| v * v).sum::<f32>().sqrt();
            let q = q.map(|v| v / norm);
            let m = quat_to_mat(q);
            assert!(
                close(&mul(&m, &transpose(&m)), &quat_to_mat([1.0, 0.0, 0.0, 0.0])),
                "orthonormal"
            );
            let back = mat_to_quat(&m);
            assert!(close(&quat_to_mat(back), &m), "{q:?} → {back:?}");
        }
        let (a, b) = ([0.5, 0.5, 0.5, 0.5], [s, 0.0, s, 0.0]);
        assert!(close(
            &quat_to_mat(quat_mul(a, b)),
            &mul(&quat_to_mat(a), &quat_to_mat(b))
        ));
        assert_eq!(cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]);
        assert_eq!(normalize([0.0; 3]), None);
    }
}
