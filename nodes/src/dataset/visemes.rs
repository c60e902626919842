//! From eSpeak NG's English phonemes to visemes, articulatory targets and
//! ARKit mouth blendshapes.
//!
//! Each phoneme gets a viseme label (the 15 of the Oculus/MPEG-4 style set:
//! `sil PP FF TH DD kk CH SS nn RR aa E ih oh ou`) and targets for the
//! articulatory parameters of [`super::coarticulation`]: bilabials seal and
//! press the lips, labiodentals tuck the lower lip under the upper teeth,
//! dentals show the tongue between the teeth, sibilants show the teeth,
//! postalveolars round and show them, vowels open the jaw by their height
//! (open /a/ most, close /i/ and /u/ least) and round or spread the lips.
//! Diphthongs glide between two targets. The numbers are ours, tuned by eye
//! on ICT-FaceKit; no published table fixes them.

use super::coarticulation::{PARAMS, Param, Segment, Target};
use super::speech::Phone;

/// Dominance of a parameter a segment does not insist on.
const SOFT: f32 = 1.0;
/// Dominance of a parameter a segment clearly shapes.
const FIRM: f32 = 5.0;
/// Dominance of a parameter a segment must reach (lip closure in /p b m/).
const STRONG: f32 = 200.0;

/// How one phoneme (or one half of a diphthong) shapes the mouth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Articulation {
    /// Its viseme label.
    pub viseme: &'static str,
    /// Per parameter, in [`Param`] order.
    pub targets: [Option<Target>; PARAMS],
    /// Dominance decay before the segment, per second.
    pub anticipation: f32,
    /// Dominance decay after the segment, per second.
    pub carryover: f32,
}

/// A phoneme's articulation: one target, or two for a diphthong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhoneShape {
    /// The target (the first one for a diphthong).
    pub first: Articulation,
    /// A diphthong's second target.
    pub glide: Option<Articulation>,
}

const fn t(value: f32, dominance: f32) -> Option<Target> {
    Some(Target { value, dominance })
}

/// A consonant: targets for jaw, open, round, spread, labiodental, teeth,
/// tongue and press, in that order (`None`: left to the neighbours).
const fn consonant(viseme: &'static str, targets: [Option<Target>; PARAMS], steep: bool) -> PhoneShape {
    // Steep segments hold strong targets: their dominance must fall fast outside
    // them (200·e^(−100·0.05 s) ≈ 1.3 at 50 ms), or the lips would stay shut well into the vowel.
    let (anticipation, carryover) = if steep { (90.0, 100.0) } else { (25.0, 30.0) };
    PhoneShape {
        first: Articulation {
            viseme,
            targets,
            anticipation,
            carryover,
        },
        glide: None,
    }
}

/// A vowel target from its jaw opening (height), lip opening, rounding and
/// spreading; `reduced` vowels (schwas) hold them more loosely.
const fn vowel_target(
    viseme: &'static str,
    jaw: f32,
    open: f32,
    round: f32,
    spread: f32,
    reduced: bool,
) -> Articulation {
    let k = if reduced { 0.4 } else { 1.0 };
    Articulation {
        viseme,
        targets: [
            t(jaw, FIRM * k),
            t(open, 4.0 * k),
            if round > 0.0 {
                t(round, 4.0 * k)
            } else {
                t(0.0, 0.7 * k)
            },
            t(spread, SOFT * k),
            t(0.0, SOFT),
            t(0.15, SOFT),
            t(0.0, SOFT),
            t(0.0, SOFT),
        ],
        anticipation: 14.0,
        carryover: 16.0,
    }
}

const fn vowel(viseme: &'static str, jaw: f32, open: f32, round: f32, spread: f32) -> PhoneShape {
    PhoneShape {
        first: vowel_target(viseme, jaw, open, round, spread, false),
        glide: None,
    }
}

const fn diphthong(from: Articulation, to: Articulation) -> PhoneShape {
    PhoneShape {
        first: from,
        glide: Some(to),
    }
}

// Vowel targets shared by several phonemes and diphthongs.
const A: Articulation = vowel_target("aa", 0.85, 1.0, 0.0, 0.3, false);
const E: Articulation = vowel_target("E", 0.5, 0.9, 0.0, 0.35, false);
const I: Articulation = vowel_target("ih", 0.28, 0.7, 0.0, 0.45, false);
const O: Articulation = vowel_target("oh", 0.6, 0.85, 0.6, 0.0, false);
const U: Articulation = vowel_target("ou", 0.28, 0.5, 0.75, 0.0, false);
const SCHWA: Articulation = vowel_target("E", 0.35, 0.75, 0.0, 0.0, true);

const BILABIAL: [Option<Target>; PARAMS] = [
    t(0.1, SOFT),
    t(0.0, STRONG),
    None,
    None,
    t(0.0, STRONG),
    t(0.0, STRONG),
    t(0.0, STRONG),
    t(0.7, FIRM),
];
const NASAL_BILABIAL: [Option<Target>; PARAMS] = [
    t(0.1, SOFT),
    t(0.0, STRONG),
    None,
    None,
    t(0.0, STRONG),
    t(0.0, STRONG),
    t(0.0, STRONG),
    t(0.35, FIRM),
];
const LABIODENTAL: [Option<Target>; PARAMS] = [
    t(0.12, FIRM),
    t(0.1, FIRM),
    t(0.0, SOFT),
    None,
    t(1.0, STRONG),
    t(0.35, FIRM),
    t(0.0, FIRM),
    t(0.0, FIRM),
];
const DENTAL: [Option<Target>; PARAMS] = [
    t(0.2, FIRM),
    t(0.4, FIRM),
    t(0.0, SOFT),
    None,
    t(0.0, FIRM),
    t(0.5, FIRM),
    t(1.0, STRONG),
    t(0.0, FIRM),
];
const ALVEOLAR_STOP: [Option<Target>; PARAMS] = [
    t(0.15, FIRM),
    t(0.3, SOFT),
    None,
    None,
    t(0.0, FIRM),
    t(0.45, SOFT),
    t(0.0, FIRM),
    t(0.0, SOFT),
];
const NASAL: [Option<Target>; PARAMS] = [
    t(0.18, FIRM),
    t(0.3, SOFT),
    None,
    None,
    t(0.0, FIRM),
    t(0.35, SOFT),
    t(0.0, FIRM),
    t(0.0, SOFT),
];
const LATERAL: [Option<Target>; PARAMS] = [
    t(0.25, FIRM),
    t(0.4, SOFT),
    None,
    None,
    t(0.0, FIRM),
    t(0.35, SOFT),
    t(0.2, SOFT),
    t(0.0, SOFT),
];
const SIBILANT: [Option<Target>; PARAMS] = [
    t(0.08, FIRM),
    t(0.25, FIRM),
    None,
    t(0.3, SOFT),
    t(0.0, FIRM),
    t(0.8, FIRM),
    t(0.0, FIRM),
    t(0.0, FIRM),
];
const POSTALVEOLAR: [Option<Target>; PARAMS] = [
    t(0.12, FIRM),
    t(0.25, FIRM),
    t(0.65, FIRM),
    t(0.0, SOFT),
    t(0.0, FIRM),
    t(0.6, FIRM),
    t(0.0, FIRM),
    t(0.0, FIRM),
];
const VELAR: [Option<Target>; PARAMS] = [
    t(0.22, SOFT),
    t(0.35, SOFT),
    None,
    None,
    t(0.0, SOFT),
    t(0.3, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
];
const RHOTIC: [Option<Target>; PARAMS] = [
    t(0.15, SOFT),
    t(0.3, SOFT),
    t(0.45, FIRM),
    t(0.0, SOFT),
    t(0.0, FIRM),
    t(0.2, SOFT),
    t(0.0, FIRM),
    t(0.0, SOFT),
];
const LABIOVELAR: [Option<Target>; PARAMS] = [
    t(0.1, FIRM),
    t(0.15, FIRM),
    t(1.0, 10.0),
    t(0.0, FIRM),
    t(0.0, FIRM),
    t(0.0, FIRM),
    t(0.0, FIRM),
    t(0.0, SOFT),
];
const PALATAL: [Option<Target>; PARAMS] = [
    t(0.12, SOFT),
    t(0.3, SOFT),
    t(0.0, SOFT),
    t(0.55, FIRM),
    t(0.0, SOFT),
    t(0.3, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
];
/// /h/, the glottal stop and eSpeak's linking `;`: shaped by their neighbours.
const GLOTTAL: [Option<Target>; PARAMS] = [
    t(0.25, 0.2),
    t(0.5, 0.2),
    None,
    None,
    t(0.0, 0.2),
    t(0.2, 0.2),
    t(0.0, 0.2),
    t(0.0, 0.2),
];
/// Pauses relax the mouth to lightly closed lips.
const PAUSE: [Option<Target>; PARAMS] = [
    t(0.03, SOFT),
    t(0.02, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
    t(0.0, SOFT),
];

/// The articulation of an eSpeak NG English phoneme, or `None` when the
/// symbol is not one of them.
pub fn lookup(symbol: &str) -> Option<PhoneShape> {
    if symbol.starts_with('_') {
        return Some(consonant("sil", PAUSE, false));
    }
    Some(match symbol {
        "p" | "b" => consonant("PP", BILABIAL, true),
        "m" | "m-" => consonant("PP", NASAL_BILABIAL, true),
        "f" | "v" => consonant("FF", LABIODENTAL, true),
        "T" | "D" => consonant("TH", DENTAL, true),
        "t" | "d" | "t#" | "d#" | "t2" | "t[" | "d[" => consonant("DD", ALVEOLAR_STOP, false),
        "n" | "n-" => consonant("nn", NASAL, false),
        "l" | "l/" | "l#" | "@L" => consonant("nn", LATERAL, false),
        "s" | "z" => consonant("SS", SIBILANT, false),
        "S" | "Z" | "tS" | "dZ" => consonant("CH", POSTALVEOLAR, false),
        "k" | "g" | "N" | "x" => consonant("kk", VELAR, false),
        "r" | "r-" | "*" => consonant("RR", RHOTIC, false),
        "w" | "w#" | "W" => consonant("ou", LABIOVELAR, false),
        "j" => consonant("ih", PALATAL, false),
        "h" | "?" | ";" => consonant("sil", GLOTTAL, false),
        "a" | "aa" | "a2" => vowel("aa", 0.85, 1.0, 0.0, 0.3),
        "A:" | "A@" | "A" | "A#" => vowel("aa", 0.9, 1.0, 0.0, 0.1),
        "V" | "VR" => vowel("aa", 0.65, 0.95, 0.0, 0.15),
        "a#" => vowel("aa", 0.5, 0.85, 0.0, 0.15),
        "0" | "02" => vowel("oh", 0.7, 0.9, 0.35, 0.0),
        "O:" | "O" | "O@" | "o@" | "O2" | "o" => PhoneShape { first: O, glide: None },
        "E" | "e" | "E2" | "e@" => PhoneShape { first: E, glide: None },
        "3:" | "3" | "IR" => vowel("E", 0.4, 0.8, 0.3, 0.0),
        "@" | "@2" | "@5" | "@1" => PhoneShape {
            first: SCHWA,
            glide: None,
        },
        "I" | "I2" | "I#" | "i" => PhoneShape { first: I, glide: None },
        "i:" | "i@3" => vowel("ih", 0.22, 0.6, 0.0, 0.7),
        "U" => vowel("ou", 0.3, 0.55, 0.6, 0.0),
        "u:" | "u" => PhoneShape { first: U, glide: None },
        "aI" | "aI@" | "aI3" | "aI2" => diphthong(A, I),
        "aU" | "aU@" => diphthong(A, U),
        "eI" => diphthong(E, I),
        "oU" | "o@U" => diphthong(O, U),
        "OI" => diphthong(O, I),
        "i@" => diphthong(I, SCHWA),
        "U@" => diphthong(U, SCHWA),
        _ => return None,
    })
}

/// Articulation segments for a phone sequence; a diphthong becomes two
/// segments (60 % / 40 % of its duration). Also returns the viseme of each
/// phone and the symbols not known (treated as pauses).
pub fn segments(phones: &[Phone]) -> (Vec<Segment>, Vec<&'static str>, Vec<String>) {
    let mut out = Vec::with_capacity(phones.len() + 8);
    let mut visemes = Vec::with_capacity(phones.len());
    let mut unknown = Vec::new();
    let segment = |a: &Articulation, start: f64, end: f64| Segment {
        start,
        end,
        targets: a.targets,
        anticipation: a.anticipation,
        carryover: a.carryover,
    };
    for phone in phones {
        let shape = lookup(&phone.symbol).unwrap_or_else(|| {
            unknown.push(phone.symbol.clone());
            consonant("sil", PAUSE, false)
        });
        visemes.push(shape.first.viseme);
        match &shape.glide {
            None => out.push(segment(&shape.first, phone.start, phone.end)),
            Some(glide) => {
                let mid = phone.start + 0.6 * (phone.end - phone.start);
                out.push(segment(&shape.first, phone.start, mid));
                out.push(segment(glide, mid, phone.end));
            }
        }
    }
    (out, visemes, unknown)
}

/// The ARKit expressions the mouth drives (ICT-FaceKit's names: `_L`/`_R`
/// for left and right).
pub const MOUTH_SHAPES: [&str; 17] = [
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretch_L",
    "mouthStretch_R",
    "mouthSmile_L",
    "mouthSmile_R",
    "mouthRollLower",
    "mouthUpperUp_L",
    "mouthUpperUp_R",
    "mouthLowerDown_L",
    "mouthLowerDown_R",
    "mouthPress_L",
    "mouthPress_R",
    "mouthShrugLower",
    "jawForward",
];

/// The mouth blendshape weights (in [`MOUTH_SHAPES`] order) for articulatory
/// parameters; `strength` scales how wide the speaker articulates (1 is
/// average). `mouthClose` cancels the jaw's lip opening in proportion to how
/// closed the lips should be, so sealed lips stay sealed at any jaw opening;
/// its constant part closes the small gap of ICT-FaceKit's neutral lips (0.8 mm).
pub fn mouth_weights(p: &[f32; PARAMS], strength: f32) -> [f32; MOUTH_SHAPES.len()] {
    let v = |param: Param| p[param as usize].clamp(0.0, 1.0);
    let jaw = (0.42 * v(Param::Jaw) * strength).min(1.0);
    let open = v(Param::Open);
    let (round, spread, teeth) = (v(Param::Round), v(Param::Spread), v(Param::Teeth));
    let (labio, tongue, press) = (v(Param::Labiodental), v(Param::Tongue), v(Param::Press));
    let upper_up = 0.35 * teeth + 0.2 * labio;
    let lower_down = 0.4 * teeth * open + 0.35 * tongue;
    [
        jaw,
        (0.84 * jaw + 0.02) * (1.0 - open),
        0.45 * round * open,
        0.75 * round * (1.0 - 0.5 * open),
        0.35 * spread,
        0.35 * spread,
        0.12 * spread,
        0.12 * spread,
        0.65 * labio,
        upper_up,
        upper_up,
        lower_down,
        lower_down,
        0.15 * press,
        0.15 * press,
        0.1 * press,
        0.1 * tongue,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vowel_height_orders_the_jaw() {
        let jaw = |s: &str| lookup(s).unwrap().first.targets[Param::Jaw as usize].unwrap().value;
        assert!(jaw("A:") > jaw("E") && jaw("E") > jaw("I") && jaw("I") > jaw("i:"));
        let round = |s: &str| lookup(s).unwrap().first.targets[Param::Round as usize].unwrap().value;
        assert!(round("u:") > 0.5 && round("i:") == 0.0);
        assert_eq!(lookup("p").unwrap().first.viseme, "PP");
        assert_eq!(lookup("_:").unwrap().first.viseme, "sil");
        assert!(lookup("Q9").is_none());
    }

    #[test]
    fn every_english_phoneme_espeak_speaks_has_a_viseme() {
        // Every phoneme event eSpeak NG 1.51 gave for the whole Harvard corpus in its eight
        // English accents (en, en-us, en-us-nyc, en-gb-scotland, en-gb-x-rp, en-gb-x-gbclan,
        // en-gb-x-gbcwmd, en-029).
        let inventory = "t n _: d s D l _ I k r @ z p w a f m 0 V E b @2 eI i: aI a# v oU h u: g I2 3 3: S A@ N \
                         aU tS O@ j U O: i dZ T ; aa e@ o@ @L r- O2 i@3 OI U@ I# t# @5 aI@ t[ t2 aI2 VR w# IR \
                         i@ _! A: aI3 n- ? _| Z";
        for symbol in inventory.split_whitespace() {
            assert!(lookup(symbol).is_some(), "/{symbol}/ has no viseme");
        }
    }

    #[test]
    fn diphthongs_split_and_unknown_symbols_are_reported() {
        let phone = |symbol: &str, start: f64, end: f64| Phone {
            symbol: symbol.into(),
            start,
            end,
        };
        let (segments, visemes, unknown) = segments(&[phone("aI", 0.0, 0.2), phone("Q9", 0.2, 0.3)]);
        assert_eq!(segments.len(), 3);
        assert!((segments[0].end - 0.12).abs() < 1e-12);
        assert_eq!(visemes, ["aa", "sil"]);
        assert_eq!(unknown, ["Q9"]);
    }

    #[test]
    fn sealed_lips_cancel_the_jaw() {
        let mut p = [0f32; PARAMS];
        p[Param::Jaw as usize] = 0.5;
        let w = mouth_weights(&p, 1.0);
        assert_eq!(w[0], 0.21);
        assert!(
            (w[1] - (0.84 * 0.21 + 0.02)).abs() < 1e-6,
            "open = 0: mouthClose follows the jaw"
        );
        p[Param::Open as usize] = 1.0;
        assert_eq!(mouth_weights(&p, 1.0)[1], 0.0);
    }
}
