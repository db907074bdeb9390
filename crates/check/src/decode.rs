//! Turning a file's bytes into text: UTF-8 with or without a byte-order mark, and UTF-16 (little
//! or big endian) with one — what editors on Windows and PowerShell's `Out-File` write. A file
//! that is none of these is not guessed at: the reason becomes a finding and the other files are
//! still judged.

/// The file's text, without its byte-order mark, or why it cannot be read as text.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest);
    }
    // UTF-32 LE starts with FF FE 00 00, which would otherwise pass for UTF-16 LE.
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err("UTF-32 text is not supported; save the file as UTF-8".into());
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes, "UTF-16 LE");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes, "UTF-16 BE");
    }
    utf8(bytes)
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        format!(
            "not UTF-8 text (invalid byte at offset {at}); UTF-16 is read only with a byte-order mark, other encodings not at all"
        )
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16, name: &str) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(format!("not {name} text: odd number of bytes after the byte-order mark"));
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| format!("not {name} text: an unpaired surrogate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn boms_are_read_and_removed() {
        assert_eq!(decode(b"\xEF\xBB\xBFa: 1\n").as_deref(), Ok("a: 1\n"));
        assert_eq!(decode(&utf16le("kind: Pod\n")).as_deref(), Ok("kind: Pod\n"));
        let mut be = vec![0xFE, 0xFF];
        be.extend("é: 1".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be).as_deref(), Ok("é: 1"));
        assert_eq!(decode(b"").as_deref(), Ok(""));
    }

    #[test]
    fn what_is_not_text_says_why() {
        assert!(decode(b"a: \xFF\xFE\xFD").is_err_and(|e| e.contains("offset 3")));
        assert!(decode(&[0xFF, 0xFE, 0x61]).is_err_and(|e| e.contains("odd number")));
        assert!(decode(&[0xFF, 0xFE, 0x00, 0xD8]).is_err_and(|e| e.contains("surrogate")));
        assert!(decode(&[0xFF, 0xFE, 0, 0, 0x61, 0, 0, 0]).is_err_and(|e| e.contains("UTF-32")));
    }
}
