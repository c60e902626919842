//! `export.images`: frames as a numbered PNG or OpenEXR sequence, for
//! compositing and editing applications.

use std::io::BufWriter;
use std::path::Path;

use exr::prelude::{
    Compression, Encoding, Image, Layer, LayerAttributes, LineOrder, SpecificChannels, Vec2, WritableImage,
};
use gspeech_sdk::{
    Caching, FileFilter, Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec,
    PortType, RunContext,
};
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

use super::cannot_write;
use super::frames::{FramesView, srgb_to_linear};
use super::sequence::{Pattern, Staging};

/// Writes every frame to its own numbered image file.
pub struct Images;

/// The file formats, by parameter value.
const FORMATS: [(&str, &str); 3] = [("png8", "png"), ("png16", "png"), ("exr", "exr")];

impl Node for Images {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("export.images", 1, "Export Image Sequence")
            .doc(
                "Writes each frame to a numbered file: PNG with 8 or 16 bits per channel (sRGB, straight alpha), or \
                 OpenEXR (32-bit float, linear light, premultiplied alpha, lossless ZIP) for compositing. The path's \
                 #### (or %04d) is replaced by the frame number. The files appear together once all are written; a \
                 cancelled or failed export leaves none.",
            )
            .input(PortSpec::new("frames", PortType::Frames, "The pictures."))
            .param(ParamSpec::path(
                "path",
                PathRole::OutputFile,
                vec![FileFilter::new("Images", &["png", "exr"])],
                "",
                "Where to write, relative to the graph file, with a frame-number field: `out/frame_####.png`.",
            ))
            .param(ParamSpec::choice(
                "format",
                "png8",
                &FORMATS.map(|(name, _)| name),
                "png8 and png16: sRGB PNG; exr: float OpenEXR in linear light.",
            ))
            .param(ParamSpec::int(
                "first_number",
                1,
                (Some(0), None),
                "The number of the first frame's file.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let record = inputs.record("frames", PortType::Frames)?;
        let frames = FramesView::of(record).map_err(|e| NodeError::input("frames", e))?;
        if frames.count == 0 || frames.width == 0 || frames.height == 0 {
            return Err(NodeError::input("frames", "has no pictures"));
        }
        let path = params.path("path")?;
        let pattern = Pattern::parse(path).map_err(|e| NodeError::param("path", e))?;
        let format = params.text("format")?;
        let extension = FORMATS
            .iter()
            .find(|(f, _)| *f == format)
            .map(|(_, e)| *e)
            .unwrap_or("png");
        if pattern.extension().as_deref() != Some(extension) {
            return Err(NodeError::param(
                "path",
                format!(
                    "{format} files end in .{extension}, but the path is `{}`",
                    path.display()
                ),
            ));
        }
        let first = params.int("first_number")? as u64;
        let numbers = first..first + frames.count as u64;
        let mut staging = Staging::create(pattern.folder()).map_err(|e| cannot_write(pattern.folder(), e))?;
        for (index, number) in numbers.clone().enumerate() {
            ctx.check_cancelled()?;
            let target = pattern.path(number);
            let staged = staging.path_for(&target);
            let written = match format {
                "exr" => write_exr(&staged, &frames, index),
                bits => write_png(&staged, &frames, index, bits == "png16"),
            };
            written.map_err(|e| NodeError::file(&target, e))?;
            ctx.progress(
                (index + 1) as f32 / frames.count as f32,
                &format!("frame {} of {}", index + 1, frames.count),
            );
        }
        ctx.check_cancelled()?;
        staging.commit().map_err(|e| NodeError::file(pattern.folder(), e))?;
        let strays = pattern.strays(numbers.clone());
        if let Some(stray) = strays.first() {
            ctx.log(
                LogLevel::Warn,
                &format!(
                    "{} older files of this sequence are outside {}–{} (such as {}); they were left in place",
                    strays.len(),
                    numbers.start,
                    numbers.end - 1,
                    stray.display()
                ),
            );
        }
        ctx.info(&format!(
            "wrote {} {format} files {} to {}",
            frames.count,
            pattern.path(numbers.start).display(),
            pattern.path(numbers.end - 1).display()
        ));
        Ok(Outputs::new())
    }
}

/// One frame as an RGBA PNG, straight alpha, 8 or 16 bits per channel.
fn write_png(path: &Path, frames: &FramesView, index: usize, sixteen: bool) -> Result<(), String> {
    let (w, h) = (frames.width, frames.height);
    let scale = if sixteen { 65535.0 } else { 255.0 };
    let mut values = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            values.extend(
                frames
                    .pixel(index, x, y)
                    .map(|c| (c.clamp(0.0, 1.0) * scale).round() as u16),
            );
        }
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let encoder = PngEncoder::new_with_quality(BufWriter::new(file), CompressionType::Fast, FilterType::Adaptive);
    let result = if sixteen {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        encoder.write_image(&bytes, w as u32, h as u32, image::ExtendedColorType::Rgba16)
    } else {
        let bytes: Vec<u8> = values.iter().map(|&v| v as u8).collect();
        encoder.write_image(&bytes, w as u32, h as u32, image::ExtendedColorType::Rgba8)
    };
    result.map_err(|e| e.to_string())
}

/// One frame as a scan-line OpenEXR file: R, G, B, A in 32-bit float, colour
/// in linear light premultiplied by alpha (compositing's convention).
fn write_exr(path: &Path, frames: &FramesView, index: usize) -> Result<(), String> {
    let channels = SpecificChannels::rgba(|position: Vec2<usize>| {
        let [r, g, b, a] = frames.pixel(index, position.x(), position.y());
        let a = a.clamp(0.0, 1.0);
        (srgb_to_linear(r) * a, srgb_to_linear(g) * a, srgb_to_linear(b) * a, a)
    });
    let encoding = Encoding {
        compression: Compression::ZIP16,
        line_order: LineOrder::Increasing,
        ..Encoding::default()
    };
    let layer = Layer::new(
        (frames.width, frames.height),
        LayerAttributes::default(),
        encoding,
        channels,
    );
    Image::from_layer(layer)
        .write()
        .to_file(path)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::testing::*;
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor, Value};

    /// Float frames with soft alpha: a horizontal ramp over a vertical one.
    fn float_frames() -> Value {
        let (w, h) = (5, 3);
        let mut data = Vec::new();
        for t in 0..2 {
            for y in 0..h {
                for x in 0..w {
                    data.extend([x as f32 / 4.0, y as f32 / 2.0, t as f32, 0.25 + 0.5 * (x % 2) as f32]);
                }
            }
        }
        let rgba = Tensor::from_f32(&[2, h, w, 4], data).unwrap();
        Value::data(
            Record::new(PortType::Frames)
                .with_tensor("rgba", rgba)
                .with_attr("fps", 25),
        )
    }

    #[test]
    fn png_sequences_read_back_exactly_in_8_and_16_bits() {
        let run = TestRun::new();
        let frames = frames_u8(3, 7, 5, 25.0, |t, x, y| {
            [(x * 30) as u8, (y * 50) as u8, (t * 100) as u8, 200]
        });
        let pattern = run.dir().join("png8").join("frame_####.png");
        run.run(
            &Images,
            inputs([("frames", frames)]),
            json!({"path": pattern.to_str().unwrap()}),
        )
        .unwrap();
        assert_eq!(
            files_in(&run.dir().join("png8")),
            ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
        );
        let image = image::open(run.dir().join("png8/frame_0003.png")).unwrap().to_rgba8();
        assert_eq!(image.dimensions(), (7, 5));
        assert_eq!(image.get_pixel(6, 4).0, [180, 200, 200, 200]);

        let pattern = run.dir().join("png16").join("f.%03d.png");
        run.run(
            &Images,
            inputs([("frames", float_frames())]),
            json!({"path": pattern.to_str().unwrap(), "format": "png16", "first_number": 0}),
        )
        .unwrap();
        let image = image::open(run.dir().join("png16/f.001.png")).unwrap();
        assert_eq!(image.color(), image::ColorType::Rgba16);
        let image = image.to_rgba16();
        assert_eq!(image.get_pixel(1, 2).0, [16384, 65535, 65535, 49151]);
    }

    #[test]
    fn exr_sequences_hold_linear_premultiplied_float_with_alpha() {
        let run = TestRun::new();
        let pattern = run.dir().join("shot.####.exr");
        run.run(
            &Images,
            inputs([("frames", float_frames())]),
            json!({"path": pattern.to_str().unwrap(), "format": "exr"}),
        )
        .unwrap();
        let image = exr::prelude::read_first_rgba_layer_from_file(
            run.dir().join("shot.0001.exr"),
            |resolution, _| vec![[0f32; 4]; resolution.width() * resolution.height()],
            |pixels, position, (r, g, b, a): (f32, f32, f32, f32)| {
                pixels[position.y() * 5 + position.x()] = [r, g, b, a];
            },
        )
        .unwrap();
        let layer = &image.layer_data;
        assert_eq!((layer.size.width(), layer.size.height()), (5, 3));
        let meta = exr::meta::MetaData::read_from_file(run.dir().join("shot.0002.exr"), false).unwrap();
        let channels: Vec<(String, exr::meta::attribute::SampleType)> = meta.headers[0]
            .channels
            .list
            .iter()
            .map(|c| (c.name.to_string(), c.sample_type))
            .collect();
        let f32 = exr::meta::attribute::SampleType::F32;
        assert_eq!(
            channels,
            ["A", "B", "G", "R"].map(|n| (n.to_string(), f32)),
            "float channels with alpha"
        );
        assert_eq!(meta.headers[0].compression, Compression::ZIP16);
        // Pixel (2, 1): sRGB (0.5, 0.5, 0), alpha 0.25.
        let [r, g, b, a] = layer.channel_data.pixels[5 + 2];
        assert!((r - 0.214_041 * 0.25).abs() < 1e-5 && (g - r).abs() < 1e-7 && b == 0.0 && a == 0.25);
    }

    #[test]
    fn wrong_extensions_and_missing_fields_are_refused_and_cancels_leave_nothing() {
        let run = TestRun::new();
        let frames = || frames_u8(4, 4, 4, 25.0, moving_disc);
        let err = run
            .run(
                &Images,
                inputs([("frames", frames())]),
                json!({"path": run.dir().join("f_####.png").to_str().unwrap(), "format": "exr"}),
            )
            .unwrap_err();
        assert!(err.to_string().contains("exr files end in .exr"), "{err}");
        let err = run
            .run(
                &Images,
                inputs([("frames", frames())]),
                json!({"path": run.dir().join("f.png").to_str().unwrap()}),
            )
            .unwrap_err();
        assert!(matches!(&err, NodeError::Param { name, .. } if name == "path"), "{err}");

        let result = run_cancelled_at(
            &Images,
            inputs([("frames", frames())]),
            json!({"path": run.dir().join("c_####.png").to_str().unwrap()}),
            0.5,
        );
        assert_eq!(result, Err(NodeError::Cancelled));
        assert_eq!(files_in(&run.dir()), Vec::<String>::new());
    }
}
