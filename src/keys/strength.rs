//! Refusing weak RSA keys whatever their source (JWKS, static JWK, PEM) and whatever the crypto
//! backend: the check reads the modulus and exponent itself, so the defence does not rest on
//! what aws-lc-rs or RustCrypto happen to accept.

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3 and §3.5).
pub(crate) const MIN_RSA_MODULUS_BITS: usize = 2048;

/// Checks an RSA public key given as big-endian unsigned integers in their minimal encoding
/// (RFC 7518 §6.3.1: `Base64urlUInt` has no leading zero octets).
///
/// Refused: a modulus under 2048 bits, an even modulus, an exponent that is even, under
/// 65 537 or over 256 bits (FIPS 186-5 §5.4), and either value with leading zero octets.
pub(crate) fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), &'static str> {
    let (Some(&n_first), Some(&n_last)) = (n.first(), n.last()) else {
        return Err("RSA modulus is empty");
    };
    if n_first == 0 {
        return Err("RSA modulus has leading zero octets");
    }
    if n_last & 1 == 0 {
        return Err("RSA modulus is even");
    }
    let bits = n.len() * 8 - n_first.leading_zeros() as usize;
    if bits < MIN_RSA_MODULUS_BITS {
        return Err("RSA modulus shorter than 2048 bits");
    }
    let (Some(&e_first), Some(&e_last)) = (e.first(), e.last()) else {
        return Err("RSA exponent is empty");
    };
    if e_first == 0 {
        return Err("RSA exponent has leading zero octets");
    }
    if e_last & 1 == 0 {
        return Err("RSA exponent is even");
    }
    if e.len() <= 4 && e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) < 65_537 {
        return Err("RSA exponent is smaller than 65537");
    }
    if e.len() > 32 {
        return Err("RSA exponent is larger than 256 bits");
    }
    Ok(())
}

/// The `(n, e)` of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`, DER), each
/// without its sign octet. `None` when the bytes are not that.
pub(crate) fn pkcs1_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, n, rest) = tlv(body)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, e, rest) = tlv(rest)?;
    if tag != 0x02 || !rest.is_empty() {
        return None;
    }
    Some((unsigned(n), unsigned(e)))
}

/// One DER tag-length-value: `(tag, value, rest)`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 {
            return None;
        }
        let (len_bytes, rest) = input.split_at_checked(octets)?;
        input = rest;
        len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (value, rest) = input.split_at_checked(len)?;
    Some((tag, value, rest))
}

/// Drops the sign octet DER puts before a positive integer whose top bit is set.
fn unsigned(int: &[u8]) -> &[u8] {
    match int {
        [0, rest @ ..] if rest.first().is_some_and(|b| *b >= 0x80) => rest,
        _ => int,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: [u8; 3] = [1, 0, 1];

    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        n[0] = 0xff >> (n.len() * 8 - bits);
        n
    }

    #[test]
    fn modulus_size_is_counted_in_bits() {
        assert_eq!(check_rsa(&modulus(2048), &E), Ok(()));
        assert_eq!(check_rsa(&modulus(4096), &E), Ok(()));
        // 256 octets, but the top bit clear: 2047 bits.
        assert_eq!(check_rsa(&modulus(2047), &E), Err("RSA modulus shorter than 2048 bits"));
        assert_eq!(check_rsa(&modulus(1024), &E), Err("RSA modulus shorter than 2048 bits"));
    }

    #[test]
    fn leading_zero_octets_are_refused() {
        let mut n = vec![0u8];
        n.extend(modulus(2048));
        assert_eq!(check_rsa(&n, &E), Err("RSA modulus has leading zero octets"));
        assert_eq!(check_rsa(&modulus(2048), &[0, 1, 0, 1]), Err("RSA exponent has leading zero octets"));
    }

    #[test]
    fn weak_exponents_are_refused() {
        let n = modulus(2048);
        assert_eq!(check_rsa(&n, &[1]), Err("RSA exponent is smaller than 65537"));
        assert_eq!(check_rsa(&n, &[3]), Err("RSA exponent is smaller than 65537"));
        assert_eq!(check_rsa(&n, &[1, 0, 0]), Err("RSA exponent is even"));
        assert_eq!(check_rsa(&n, &[0xff, 0xff]), Err("RSA exponent is smaller than 65537"));
        assert_eq!(check_rsa(&n, &[1, 0, 3]), Ok(()));
        assert_eq!(check_rsa(&n, &[0x7f; 33]), Err("RSA exponent is larger than 256 bits"));
        let mut even = modulus(2048);
        even[255] = 0xfe;
        assert_eq!(check_rsa(&even, &E), Err("RSA modulus is even"));
    }

    #[test]
    fn pkcs1_is_read_without_sign_octets() {
        let n = modulus(2048);
        let mut der = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00];
        der.extend(&n);
        der.extend([0x02, 0x03, 1, 0, 1]);
        assert_eq!(pkcs1_components(&der), Some((&n[..], &E[..])));
        assert_eq!(pkcs1_components(&der[..der.len() - 1]), None);
        assert_eq!(pkcs1_components(b"garbage"), None);
    }
}
