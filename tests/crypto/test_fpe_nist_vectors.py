"""FF1 and FF3-1 give NIST's published results, for AES-128, -192 and -256, both ways."""

from __future__ import annotations

import pytest

from veil.crypto.fpe_ff1 import FF1
from veil.crypto.fpe_ff3 import FF31
from veil.crypto.fpe_radix import decode, encode

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
B64 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/"
K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = K128 + "EF4359D8D580AA4F"
K256 = K192 + "7F036D6F04FC6A94"

# NIST, "FF1 samples" (FF1samples.pdf, Computer Security Resource Center, Examples with
# intermediate values for SP 800-38G), samples 1 to 9: key, radix, tweak, plaintext, ciphertext.
FF1_SAMPLES = [
    (K128, 10, "", "0123456789", "2433477484"),
    (K128, 10, "39383736353433323130", "0123456789", "6124200773"),
    (K128, 36, "3737373770717273373737", "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (K192, 10, "", "0123456789", "2830668132"),
    (K192, 10, "39383736353433323130", "0123456789", "2496655549"),
    (K192, 36, "3737373770717273373737", "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
    (K256, 10, "", "0123456789", "6657667009"),
    (K256, 10, "39383736353433323130", "0123456789", "1001623463"),
    (K256, 36, "3737373770717273373737", "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
]

# NIST's FF3-1 test vectors (56-bit tweaks) from its ACVP server, test groups 1-9 of
# "ACVP Symmetric Key Algorithm JSON Specification" (draft-celi-acvp-symmetric, AES-FF3-1),
# as the ff3 package's own tests carry them: key, alphabet, tweak, plaintext, ciphertext.
FF3_1_ACVP = [
    ("2DE79D232DF5585D68CE47882AE256D6", B36[:10], "CBD09280979564", "3992520240",
     "8901801106"),
    ("01C63017111438F7FC8E24EB16C71AB5", B36[:10], "C4E822DCD09F27",
     "60761757463116869318437658042297305934914824457484538562",
     "35637144092473838892796702739628394376915177448290847293"),
    ("718385E6542534604419E83CE387A437", B36[10:], "B6F35084FA90E1", "wfmwlrorcd",
     "ywowehycyd"),
    ("DB602DFF22ED7E84C8D8C865A941A238", B36[10:], "EBEFD63BCC2083",
     "kkuomenbzqvggfbteqdyanwpmhzdmoicekiihkrm", "belcfahcwwytwrckieymthabgjjfkxtxauipmjja"),
    ("AEE87D0D485B3AFD12BD1E0B9D03D50D", B64, "5F9140601D224B", "ixvuuIHr0e", "GR90R1q838"),
    ("7B6C88324732F7F4AD435DA9AD77F917", B64, "3F42102C0BAB39", "21q1kbbIVSrAFtdFWzdMeIDpRqpo",
     "cvQ/4aGUV4wRnyO3CHmgEKW5hk8H"),
    ("F62EDB777A671075D47563F3A1E9AC797AA706A2D8E02FC8", B36[:10], "493B8451BF6716",
     "4406616808", "1807744762"),
    ("0951B475D1A327C52756F2624AF224C80E9BE85F09B2D44F", B36[:10], "D679E2EA3054E1",
     "99980459818278359406199791971849884432821321826358606310",
     "84359031857952748660483617398396641079558152339419110919"),
    ("49CCB8F62D941E5684599ECA0300937B5C766D053E109777", B36[10:], "0BFCF75CDC2FC1",
     "jaxlrchjjx", "kjdbfqyahd"),
    ("03D253674A9309FF07ED0E71B24CBFE769025E09FCE544D7", B36[10:], "B33176B1DA0F6C",
     "tafzrybuvhiqvcyztuxfnwfprmqlwpayphxbawpl", "loaemzbgqkywkdhmncrijzildzleoqibtthdiliv"),
    ("1C24B74B7C1B9969314CB53E92F98EFD620D5520017FB076", B64, "0380341C425A6F", "6np8r2t8zo",
     "HgpCXoA1Rt"),
    ("C0ABADFC071379824A070E8C3FD40DD9BFD7A3C99A0D5FE3", B64, "6C2926C705DDAF",
     "GKB6sa9g56BSJ09iJ4dsaxRdsMvo", "gC0tTSdDPxM79QOWi+z+SNL9C4V+"),
    ("1FAA03EFF55A06F8FAB3F1DC57127D493E2F8F5C365540467A3A055BDBE6481D", B36[:10],
     "4D67130C030445", "3679409436", "1735794859"),
    ("9CE16E125BD422A011408EB083355E7089E70A4CD2F59E141D0B94A74BCC5967", B36[:10],
     "4684635BD2C821", "85783290820098255530464619643265070052870796363685134012",
     "75104723514036464144839960480545848044718729603261409917"),
    ("6187F8BDE99F7DAF9E3EE8A8654308E7E51D31FA88AFFAEB5592041C033B736B", B36[10:],
     "5820812B3D5DD1", "mkblaoiyfd", "ifpyiihvvq"),
    ("F6807FB9688937E4D4956006C8F0CB2394148A5F4B14666CF353F4941428FFD7", B36[10:],
     "30C87B99890096", "wrammvhudopmaazlsxevzwzwpezzmghwfnmkitnk",
     "nzftnfkliuctlmtdfrxfhwgevrbcbgljurnytxkj"),
    ("9C2B69F7DDF181C54398E345BE04C2F6B00B9DD1679200E1E04C4FF961AE0F09", B64, "103C238B4B1E44",
     "H2/c6FblSA", "EOg4H1bE+8"),
    ("C58BCBD08B90006CEC7E82B2D987D79F6A21111DEF0CEBB273CBAEB2D6CD4044", B64, "7036604882667B",
     "bz5TcS1krnD8IOLdrQeKzXkLAa6h", "Z6x3/9LPW8SZunRezRM8J68Q4J03"),
]


@pytest.mark.parametrize(("key", "radix", "tweak", "pt", "ct"), FF1_SAMPLES)
def test_ff1_nist_samples(key: str, radix: int, tweak: str, pt: str, ct: str) -> None:
    c, alphabet, tw = FF1(bytes.fromhex(key), radix), B36[:radix], bytes.fromhex(tweak)
    assert encode(c.encrypt(decode([pt], alphabet), tw), alphabet) == [ct]
    assert encode(c.decrypt(decode([ct], alphabet), tw), alphabet) == [pt]


@pytest.mark.parametrize(("key", "alphabet", "tweak", "pt", "ct"), FF3_1_ACVP)
def test_ff3_1_nist_acvp_vectors(key: str, alphabet: str, tweak: str, pt: str, ct: str) -> None:
    c, tw = FF31(bytes.fromhex(key), len(alphabet)), bytes.fromhex(tweak)
    assert encode(c.encrypt(decode([pt], alphabet), tw), alphabet) == [ct]
    assert encode(c.decrypt(decode([ct], alphabet), tw), alphabet) == [pt]


def test_a_batch_of_all_samples_at_once_equals_them_one_by_one() -> None:
    """Per-value tweaks in one batch: the vectors of one key and length, mixed with others."""
    c = FF1(bytes.fromhex(K128), 10)
    pts = ["0123456789", "9876543210", "0123456789", "0000000000"]
    tweaks = [b"", b"", b"", b""]
    alone = [encode(c.encrypt(decode([p], B36[:10]), b""), B36[:10])[0] for p in pts]
    assert encode(c.encrypt(decode(pts, B36[:10]), tweaks), B36[:10]) == alone
    assert alone[0] == "2433477484"
    twk = [bytes.fromhex("39383736353433323130"), b"0123456789", bytes(10), b"9876543210"]
    out = encode(c.encrypt(decode(pts, B36[:10]), twk), B36[:10])
    assert out[0] == "6124200773"
    assert encode(c.decrypt(decode(out, B36[:10]), twk), B36[:10]) == pts
