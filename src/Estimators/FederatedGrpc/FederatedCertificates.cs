using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MLNetExt;

/// <summary>TLS certificates for the federated runtime: a self-signed development certificate and the client-side checks (pinning or a private CA).</summary>
public static class FederatedCertificates
{
    /// <summary>
    /// Creates a self-signed TLS server certificate (ECDSA P-256, SHA-256, valid <paramref name="validDays"/> days) for
    /// <c>localhost</c>, 127.0.0.1, ::1 and <paramref name="hostNames"/> (DNS names or IP addresses clients use to reach
    /// the server). Clients trust it by pinning its <see cref="Thumbprint"/> or by loading its public part
    /// (<see cref="ExportPublicPem"/>) as their CA. For production use a certificate from your own CA.
    /// </summary>
    public static X509Certificate2 CreateDevelopmentCertificate(IEnumerable<string>? hostNames = null, int validDays = 365)
    {
        if (validDays < 1) throw new ArgumentOutOfRangeException(nameof(validDays), validDays, "validDays must be ≥ 1.");
        var names = new[] { "localhost", "127.0.0.1", "::1" }.Concat(hostNames ?? Array.Empty<string>()).Distinct().ToList();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names.FirstOrDefault(n => !IPAddress.TryParse(n, out _) && n != "localhost") ?? "localhost"}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip);
            else san.AddDnsName(name);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false)); // server auth
        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(validDays));
        // Round-trip through PKCS#12 so the private key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The SHA-256 thumbprint (upper-case hex) clients pin with <see cref="FederatedClientOptions.ServerCertificateThumbprint"/>.</summary>
    public static string Thumbprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>The certificate's public part in PEM (no private key), e.g. to copy to client machines as their CA file.</summary>
    public static string ExportPublicPem(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.ExportCertificatePem();
    }

    /// <summary>
    /// Whether a server certificate is acceptable: with <paramref name="pinnedThumbprint"/> it must have that SHA-256
    /// thumbprint (host name and chain are not checked: the pin is stronger); with <paramref name="authority"/> it must chain
    /// to that CA and match the host name; with neither, the system's trust store decides (<paramref name="errors"/>).
    /// </summary>
    internal static bool IsTrusted(X509Certificate? presented, SslPolicyErrors errors, string? pinnedThumbprint, X509Certificate2? authority)
    {
        if (presented is null) return false;
        using var certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        if (pinnedThumbprint is not null)
            return string.Equals(Normalise(pinnedThumbprint), Thumbprint(certificate), StringComparison.Ordinal);
        if (authority is not null)
        {
            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        }
        return errors == SslPolicyErrors.None;
    }

    internal static string Normalise(string thumbprint) => new(thumbprint.Where(Uri.IsHexDigit).Select(char.ToUpperInvariant).ToArray());
}
