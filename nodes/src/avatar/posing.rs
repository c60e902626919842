//! Posing an avatar record frame by frame on a face model's meshes, coloured
//! by its MLP where it has one: what `render.splats` and `splats.save_ply`
//! share.

use gspeech_sdk::{LogLevel, NodeError, NodeSpec, PortSpec, PortType, Record, RunContext};

use super::binding::{MeshSequence, check_binding};
use super::{Avatar, face_identity};
use crate::math::Vec3;
use crate::splats::{Gaussians, binding_of};

/// Adds the optional inputs posing reads: `face_model`, and `motion`
/// (described by `motion`, which says how the node uses its frames).
pub fn posing_inputs(spec: NodeSpec, motion: &str) -> NodeSpec {
    spec.input(PortSpec::optional(
        "face_model",
        PortType::FaceModel,
        "The mesh an avatar's Gaussians are bound to.",
    ))
    .input(PortSpec::optional("motion", PortType::Motion, motion))
}

/// Bound Gaussians (an `avatar` record with a `binding`) and the meshes of
/// the face model they are bound to, moved by a motion.
pub struct Posing<'a> {
    gaussians: Gaussians,
    binding: &'a [u32],
    meshes: MeshSequence<'a>,
    /// The avatar, when its colour comes from an MLP (a fitted one).
    colored: Option<Avatar>,
}

impl<'a> Posing<'a> {
    /// Checks the avatar against the face model (and the motion against
    /// both); errors name the input at fault: `gaussians`, `face_model` or
    /// `motion`. Warns through `ctx` when an expression-dependent colour has
    /// no expression to follow.
    pub fn new(
        ctx: &RunContext,
        avatar: &'a Record,
        face: &'a Record,
        motion: Option<&'a Record>,
    ) -> Result<Posing<'a>, NodeError> {
        let bad = |e: String| NodeError::input("gaussians", e);
        let gaussians = Gaussians::from_record(avatar).map_err(bad)?;
        let binding = binding_of(avatar).ok_or_else(|| bad("has no `binding`: it is not bound to a mesh".into()))?;
        let colored = avatar
            .attr("config")
            .map(|_| Avatar::from_record(avatar, &candle_core::Device::Cpu))
            .transpose()
            .map_err(bad)?;
        let mut meshes = MeshSequence::new(face, motion).map_err(|e| NodeError::input("face_model", e))?;
        match &colored {
            Some(colored) => {
                let identity = face_identity(face).map_err(|e| NodeError::input("face_model", e))?;
                colored.check_face(&identity).map_err(bad)?;
                if colored.config.color.is_dynamic() && motion.is_some_and(|m| m.tensor("weights").is_none()) {
                    ctx.log(
                        LogLevel::Warn,
                        "the motion has no blendshape weights: the avatar's colour is its rest expression's",
                    );
                }
            }
            None => {
                let mouth = avatar
                    .tensor("mouth_triangles")
                    .and_then(|t| t.as_u32())
                    .unwrap_or_default();
                let mouth: Vec<[u32; 3]> = mouth.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
                meshes = meshes.with_triangles(&mouth).map_err(bad)?;
            }
        }
        let mouth = colored.as_ref().map_or(0, |a| a.mouth_triangles.len());
        check_binding(binding, gaussians.len(), meshes.triangles().len() + mouth).map_err(bad)?;
        Ok(Posing {
            gaussians,
            binding,
            meshes,
            colored,
        })
    }

    /// Frames of the motion (1 without one).
    pub fn frames(&self) -> usize {
        self.meshes.frames()
    }

    /// The motion's frame rate, if there is a motion.
    pub fn fps(&self) -> Option<f64> {
        self.meshes.fps()
    }

    /// Whether the colour depends on where it is seen from.
    pub fn view_dependent(&self) -> bool {
        self.colored.as_ref().is_some_and(|a| a.config.color.is_dynamic())
    }

    /// The Gaussians in the world on `frame` (the last frame past the end),
    /// coloured for that frame's expression as seen from `camera` (world).
    pub fn pose(&self, frame: usize, camera: Vec3) -> Result<Gaussians, NodeError> {
        let at = frame.min(self.meshes.frames() - 1);
        Ok(match &self.colored {
            Some(colored) => {
                let code = self
                    .meshes
                    .expression(at)
                    .unwrap_or_else(|| vec![0.0; colored.config.color.expressions]);
                colored
                    .posed_gaussians(&self.meshes.vertices(at), self.meshes.triangles(), &code, camera)
                    .map_err(|e| NodeError::input("gaussians", e))?
            }
            None => self.meshes.pose(&self.gaussians, self.binding, at),
        })
    }
}
