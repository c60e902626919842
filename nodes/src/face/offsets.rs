//! A motion's vertex offsets on a face model: for every vertex (`[T, V, 3]`),
//! or for the vertices its `vertex_indices` lists (`[T, n, 3]`), as the motion
//! model writes them for the face region alone.

use gspeech_sdk::Record;

/// A view of a motion's `vertex_offsets`.
#[derive(Clone, Copy, Debug)]
pub struct Offsets<'a> {
    values: &'a [f32],
    indices: Option<&'a [u32]>,
    /// Frames.
    pub frames: usize,
    width: usize,
}

impl<'a> Offsets<'a> {
    /// The offsets of `motion` for a face model of `vertices` vertices, `None`
    /// when it has none; an error when they cannot belong to that model.
    pub fn of(motion: &'a Record, vertices: usize) -> Result<Option<Offsets<'a>>, String> {
        let Some(tensor) = motion.tensor("vertex_offsets") else {
            return Ok(None);
        };
        let values = tensor.as_f32().ok_or("motion: vertex offsets must be f32")?;
        let (frames, width) = (tensor.shape()[0], tensor.shape()[1]);
        let indices = match motion.tensor("vertex_indices") {
            Some(t) => {
                let indices = t.as_u32().ok_or("motion: vertex indices must be u32")?;
                if indices.len() != width {
                    return Err(format!(
                        "motion: {} vertex indices for offsets of {width} vertices",
                        indices.len()
                    ));
                }
                if let Some(&bad) = indices.iter().find(|&&i| i as usize >= vertices) {
                    return Err(format!(
                        "motion: its offsets move vertex {bad}, the face model has {vertices} vertices"
                    ));
                }
                Some(indices)
            }
            None if width != vertices => {
                return Err(format!(
                    "motion: vertex offsets are for {width} vertices, the face model has {vertices}"
                ));
            }
            None => None,
        };
        Ok(Some(Offsets {
            values,
            indices,
            frames,
            width,
        }))
    }

    /// Adds frame `frame`'s offsets to flattened positions `[V * 3]`.
    pub fn add_to(&self, frame: usize, positions: &mut [f32]) {
        let row = &self.values[frame * self.width * 3..(frame + 1) * self.width * 3];
        match self.indices {
            None => positions.iter_mut().zip(row).for_each(|(p, o)| *p += o),
            Some(indices) => {
                for (&i, o) in indices.iter().zip(row.chunks_exact(3)) {
                    let p = &mut positions[i as usize * 3..i as usize * 3 + 3];
                    p.iter_mut().zip(o).for_each(|(p, o)| *p += o);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::{PortType, Tensor};

    #[test]
    fn sparse_offsets_land_on_their_vertices() {
        let motion = Record::new(PortType::Motion)
            .with_attr("fps", 25.0)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[1, 1, 3], vec![1.0, 2.0, 3.0]).unwrap())
            .with_tensor("vertex_indices", Tensor::from_u32(&[1], vec![2]).unwrap());
        let offsets = Offsets::of(&motion, 3).unwrap().unwrap();
        let mut p = vec![0.0; 9];
        offsets.add_to(0, &mut p);
        assert_eq!(p, vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        let err = Offsets::of(&motion, 2).unwrap_err();
        assert!(err.contains("vertex 2") && err.contains("2 vertices"), "{err}");
    }
}
