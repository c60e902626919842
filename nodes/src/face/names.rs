//! Blendshape names as different tools spell them.

/// A blendshape name reduced so the spellings in use compare equal:
/// `eyeBlinkLeft`, `EyeBlinkLeft`, `eyeBlink_L` (ICT-FaceKit) and
/// `eyeBlink.L` (Blender) all become `eyeblinkleft`.
pub fn canonical_name(name: &str) -> String {
    let mut name = name.to_string();
    for (suffix, side) in [("_L", "Left"), ("_R", "Right"), (".L", "Left"), (".R", "Right")] {
        if let Some(stem) = name
            .strip_suffix(suffix)
            .or_else(|| name.strip_suffix(&suffix.to_lowercase()))
        {
            name = format!("{stem}{side}");
            break;
        }
    }
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The position of `name` among `names`: the same spelling first, else the
/// same [`canonical_name`].
pub fn find_name<S: AsRef<str>>(names: &[S], name: &str) -> Option<usize> {
    names.iter().position(|n| n.as_ref() == name).or_else(|| {
        let wanted = canonical_name(name);
        names.iter().position(|n| canonical_name(n.as_ref()) == wanted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_spellings_compare_equal() {
        for spelling in [
            "eyeBlinkLeft",
            "EyeBlinkLeft",
            "eyeBlink_L",
            "eyeBlink.L",
            "eye_blink_left",
        ] {
            assert_eq!(canonical_name(spelling), "eyeblinkleft", "{spelling}");
        }
        assert_eq!(canonical_name("jawOpen"), canonical_name("JawOpen"));
    }

    #[test]
    fn exact_spellings_win_over_canonical_ones() {
        assert_eq!(find_name(&["jaw_open", "jawOpen"], "jawOpen"), Some(1));
        assert_eq!(find_name(&["eyeBlink_L", "eyeBlink_R"], "eyeBlinkRight"), Some(1));
        assert_eq!(find_name(&["eyeBlink_L"], "mouthClose"), None);
    }
}
