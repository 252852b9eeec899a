/*
 * Chainbook's YARA rules for submitted content (infra/adapters/inspection/yaraPlugin.ts).
 * A rule's tag gives its tier: block, quarantine (untagged: INSPECTION_YARA_DEFAULT_TIER).
 * Patterns are written so that this file does not itself hold a secret or the EICAR string
 * (the repository's secret scan, scripts/ci/check-no-private-keys.sh, reads it too).
 */

rule EICAR_Test_File : block
{
    meta:
        description = "The EICAR anti-virus test file (eicar.org), at the start of the content"
    strings:
        // X5O!P%@AP[4\PZX54(P^)7CC)7}$ followed by the standard marker, as hex and a regex.
        $head = { 58 35 4F 21 50 25 40 41 50 5B 34 5C 50 5A 58 35 34 28 50 5E 29 37 43 43 29 37 7D 24 }
        $marker = /EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\$H\+H\*/
    condition:
        $head at 0 and $marker in (28..40)
}

rule PEM_Private_Key : block
{
    meta:
        description = "A PEM-armoured private key (PKCS#8, RSA, EC, DSA, OpenSSH, encrypted, PGP)"
    strings:
        $pem = /-----BEGIN ([A-Z0-9]+ )*PRIVATE[ ]KEY( BLOCK)?-----/
    condition:
        $pem
}

rule AWS_Access_Key_Id : block
{
    meta:
        description = "An AWS access key id (long-term AKIA or temporary ASIA)"
    strings:
        $id = /(AKIA|ASIA)[A-Z0-9]{16}/
    condition:
        $id
}

rule Chainbook_Bearer_Token : block
{
    meta:
        description = "A Chainbook API token: cb_ and 43 base64url characters (infra/entrypoints/http/auth/tokens.ts)"
    strings:
        $token = /cb_[A-Za-z0-9_\-]{43}/
    condition:
        $token
}
