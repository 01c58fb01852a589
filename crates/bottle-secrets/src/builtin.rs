//! The built-in rules, written by this project from the public token formats
//! (prefixes, alphabets and lengths). Rule ids follow gitleaks' where the
//! token type is the same, so a gitleaks config's `disabledRules` and
//! `targetRules` keep meaning what they meant.
//!
//! Every built-in rule is *line-local*: its match never spans a line and
//! contains one of its keywords (multi-line formats such as PEM blocks are
//! marked otherwise), so the engine only runs it on lines where a keyword
//! occurs. Each rule carries a true-positive sample and a near miss as
//! templates (see [`BuiltinRule::sample`]); the tests expand them with
//! random characters at run time, so no real-looking token sits in the repo.

use crate::engine::RuleSet;
use crate::gitleaks::{AllowDef, ConfigDef, RuleDef, compile_config};
use crate::rule::{AllowKind, Dialect, RegexTarget};

/// A rule's regex: written out, or the common "NAME ... = VALUE" assignment
/// shape around a value pattern.
#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// A complete regex; the secret is capture group 1.
    Raw(&'static str),
    /// `NAME[\w.-]{0,40} ['"]? (=|:|:=|=>) ['"]? (VALUE)` where NAME is
    /// matched case-insensitively and VALUE case-sensitively.
    Assign {
        /// Regex for the identifier part that must appear (e.g. `twilio`).
        name: &'static str,
        /// Regex for the secret value.
        value: &'static str,
    },
}

/// A built-in rule with its test templates.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRule {
    /// Rule id.
    pub id: &'static str,
    /// Description.
    pub description: &'static str,
    /// Lowercase keywords; one must occur on the line.
    pub keywords: &'static [&'static str],
    /// The regex.
    pub pattern: Pattern,
    /// Minimum Shannon entropy of the secret (0 = none).
    pub entropy: f64,
    /// Matches may span lines (PEM blocks): the rule runs on the whole
    /// fragment once a keyword occurs.
    pub multiline: bool,
    /// Path regex for path-only rules (file types that are secrets).
    pub path: Option<&'static str>,
    /// True-positive template: literal text where `{c:N}` is N random
    /// characters of class `c` and `«…»` marks the expected secret. Classes:
    /// `a` [a-z0-9], `A` [A-Z0-9], `x` [A-Za-z0-9], `h` [0-9a-f], `H` [0-9A-F],
    /// `d` digits, `l` [a-z], `U` [A-Z], `L` [A-Za-z], `b` base64, `u`
    /// base64url, `B` [A-Z2-7], `v` [a-z2-7], `C` bech32 upper. Path-only
    /// rules use the template as the file path.
    pub sample: &'static str,
    /// A near miss (same template language) that must not match.
    pub near_miss: &'static str,
}

impl BuiltinRule {
    /// The regex source.
    pub fn regex(&self) -> Option<String> {
        if self.path.is_some() {
            return None;
        }
        Some(match self.pattern {
            Pattern::Raw(r) => r.to_string(),
            Pattern::Assign { name, value } => format!(
                r#"(?i)(?:{name})[\w.-]{{0,40}}?['"]?\s{{0,5}}(?::=|=>|=|:)\s{{0,5}}['"]?(?-i:({value}))(?:[^\w+/=-]|$)"#
            ),
        })
    }
}

const fn r(
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
    sample: &'static str,
    near_miss: &'static str,
) -> BuiltinRule {
    BuiltinRule {
        id,
        description,
        keywords,
        pattern: Pattern::Raw(regex),
        entropy: 0.0,
        multiline: false,
        path: None,
        sample,
        near_miss,
    }
}

/// An assignment-shaped rule: `name` must appear on the left of `=`/`:`.
const fn a(
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    name: &'static str,
    value: &'static str,
    sample: &'static str,
    near_miss: &'static str,
) -> BuiltinRule {
    BuiltinRule {
        id,
        description,
        keywords,
        pattern: Pattern::Assign { name, value },
        entropy: 0.0,
        multiline: false,
        path: None,
        sample,
        near_miss,
    }
}

impl BuiltinRule {
    const fn entropy(mut self, e: f64) -> Self {
        self.entropy = e;
        self
    }
    const fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
    const fn path(mut self, p: &'static str) -> Self {
        self.path = Some(p);
        self
    }
}

// Template for a UUID value.
macro_rules! uuid_t {
    () => {
        "{h:8}-{h:4}-{h:4}-{h:4}-{h:12}"
    };
}

/// The built-in rules.
pub fn builtin_rules() -> &'static [BuiltinRule] {
    RULES
}

#[rustfmt::skip]
static RULES: &[BuiltinRule] = &[
    // ---------------------------------------------------------------- cloud
    r("aws-access-token", "AWS access key id", &["akia", "asia", "abia", "acca", "a3t"],
      r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
      "aws_access_key_id = «AKIA{B:16}»", "aws_access_key_id = AKIA{B:15}"),
    a("aws-secret-access-key", "AWS secret access key", &["aws"],
      r"aws[\w.-]{0,20}?(?:secret|sk)", "[A-Za-z0-9/+]{40}",
      "aws_secret_access_key = «{b:40}»", "aws_secret_access_key = {b:39}").entropy(3.5),
    a("aws-session-token", "AWS session token", &["session"],
      r"(?:aws[\w.-]{0,20}?)?session[_.-]?token", "[A-Za-z0-9/+]{100,}={0,2}",
      "AWS_SESSION_TOKEN=«{b:300}»", "AWS_SESSION_TOKEN={b:60}").entropy(4.0),
    r("aws-amazon-bedrock-api-key-long-lived", "Amazon Bedrock long-lived API key", &["absk"],
      r"\b(ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{100,}={0,2})",
      "key = «ABSKQmVkcm9ja0FQSUtleS{b:110}»", "key = ABSKQmVkcm9ja0FQSUtleS{b:40}"),
    r("aws-amazon-bedrock-api-key-short-lived", "Amazon Bedrock short-lived API key", &["bedrock-api-key-"],
      r"\b(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]{40,})",
      "«bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t{b:200}»", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t{b:20}"),
    r("aws-mws-key", "Amazon MWS auth token", &["amzn.mws."],
      r"\b(amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
      concat!("«amzn.mws.", uuid_t!(), "»"), "amzn.mws.{h:8}-{h:4}-{h:4}-{h:12}"),
    r("gcp-api-key", "Google Cloud API key", &["aiza"],
      r"\b(AIza[\w-]{35})(?:[^\w-]|$)",
      "GOOGLE_API_KEY: «AIza{u:35}»", "GOOGLE_API_KEY: AIza{u:34}"),
    r("gcp-service-account-key", "Google Cloud service account private key id", &["private_key_id"],
      r#""private_key_id"\s*:\s*"([0-9a-f]{40})""#,
      r#""private_key_id": "«{h:40}»","#, r#""private_key_id": "{h:39}","#),
    r("gcp-oauth-client-secret", "Google OAuth client secret", &["gocspx-"],
      r"\b(GOCSPX-[\w-]{28})(?:[^\w-]|$)",
      "client_secret=«GOCSPX-{u:28}»", "client_secret=GOCSPX-{u:20}"),
    r("google-oauth-access-token", "Google OAuth access token", &["ya29."],
      r"\b(ya29\.[\w-]{30,})",
      "Authorization: Bearer «ya29.{u:80}»", "ya29.{u:20}"),
    r("google-oauth-refresh-token", "Google OAuth refresh token", &["1//0"],
      r"(?:^|[^\w/])(1//0[\w-]{40,})",
      "refresh_token: «1//0{u:60}»", "refresh_token: 1//0{u:20}"),
    r("azure-ad-client-secret", "Azure AD client secret", &["q~"],
      r"(?:^|[^\w~.-])([\w~.]{3}\dQ~[\w~.-]{31,34})(?:[^\w~.-]|$)",
      "AZURE_CLIENT_SECRET=«{x:3}8Q~{x:34}»", "AZURE_CLIENT_SECRET={x:3}8Q~{x:20}"),
    r("azure-storage-account-key", "Azure storage account key", &["accountkey="],
      r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
      "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=«{b:86}==»;", "AccountKey={b:40}==;"),
    r("azure-shared-access-key", "Azure Service Bus / Event Hubs shared access key", &["sharedaccesskey="],
      r"(?i)SharedAccessKey=([A-Za-z0-9+/]{43}=)",
      "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey=«{b:43}=»", "SharedAccessKey={b:20}="),
    r("azure-sas-token", "Azure shared access signature", &["sig="],
      r"(?i)\bsv=\d{4}-\d{2}-\d{2}&[^\s'\x22<>]*?\bsig=([A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})",
      "https://x.blob.core.windows.net/c?sv=2022-11-02&ss=b&srt=o&sp=r&sig=«{x:44}%3D»", "https://x/c?sv=2022-11-02&sig={x:10}"),
    a("azure-devops-pat", "Azure DevOps personal access token", &["azure", "devops", "ado_"],
      r"azure[\w.-]{0,20}?devops[\w.-]{0,20}?(?:pat|token)|ado[_-](?:pat|token)", "[a-z2-7]{52}",
      "AZURE_DEVOPS_PAT=«{v:52}»", "AZURE_DEVOPS_PAT={v:51}"),
    a("azure-openai-api-key", "Azure OpenAI API key", &["azure"],
      r"azure[\w.-]{0,20}?openai[\w.-]{0,20}?key", "[0-9a-f]{32}",
      "AZURE_OPENAI_API_KEY=«{h:32}»", "AZURE_OPENAI_API_KEY={h:31}").entropy(3.0),
    r("digitalocean-pat", "DigitalOcean personal access token", &["dop_v1_"],
      r"\b(dop_v1_[a-f0-9]{64})\b", "DO_TOKEN=«dop_v1_{h:64}»", "DO_TOKEN=dop_v1_{h:63}"),
    r("digitalocean-access-token", "DigitalOcean OAuth access token", &["doo_v1_"],
      r"\b(doo_v1_[a-f0-9]{64})\b", "«doo_v1_{h:64}»", "doo_v1_{h:60}"),
    r("digitalocean-refresh-token", "DigitalOcean OAuth refresh token", &["dor_v1_"],
      r"\b(dor_v1_[a-f0-9]{64})\b", "«dor_v1_{h:64}»", "dor_v1_{h:60}"),
    a("cloudflare-api-key", "Cloudflare API token", &["cloudflare", "cf_api"],
      r"cloudflare[\w.-]{0,20}?(?:token|key)|cf_api_token", r"[\w-]{40}",
      "CLOUDFLARE_API_TOKEN=«{x:40}»", "CLOUDFLARE_API_TOKEN={x:39}").entropy(3.5),
    a("cloudflare-global-api-key", "Cloudflare global API key", &["cloudflare", "cf_api"],
      r"cloudflare[\w.-]{0,20}?(?:global|auth)[\w.-]{0,10}?key|cf_api_key", "[a-f0-9]{37}",
      "CLOUDFLARE_GLOBAL_API_KEY: «{h:37}»", "CLOUDFLARE_GLOBAL_API_KEY: {h:36}"),
    r("cloudflare-origin-ca-key", "Cloudflare Origin CA key", &["v1.0-"],
      r"\b(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b", "«v1.0-{h:24}-{h:146}»", "v1.0-{h:24}-{h:100}"),
    r("alibaba-access-key-id", "Alibaba Cloud AccessKey id", &["ltai"],
      r"\b(LTAI[A-Za-z0-9]{20})\b", "access_key_id = «LTAI{x:20}»", "access_key_id = LTAI{x:19}"),
    a("alibaba-secret-key", "Alibaba Cloud AccessKey secret", &["alibaba", "aliyun"],
      r"(?:alibaba|aliyun)[\w.-]{0,20}?secret", "[A-Za-z0-9]{30}",
      "ALIBABA_CLOUD_ACCESS_KEY_SECRET=«{x:30}»", "ALIBABA_CLOUD_ACCESS_KEY_SECRET={x:29}").entropy(3.5),
    r("tencent-cloud-secret-id", "Tencent Cloud SecretId", &["akid"],
      r"\b(AKID[A-Za-z0-9]{32})\b", "secret_id = «AKID{x:32}»", "secret_id = AKID{x:31}"),
    a("tencent-cloud-secret-key", "Tencent Cloud SecretKey", &["tencent"],
      r"tencent[\w.-]{0,20}?secret[\w.-]{0,5}?key", "[A-Za-z0-9]{32}",
      "TENCENTCLOUD_SECRET_KEY=«{x:32}»", "TENCENTCLOUD_SECRET_KEY={x:31}").entropy(3.5),
    a("ibm-cloud-api-key", "IBM Cloud API key", &["ibm"],
      r"ibm[\w.-]{0,20}?(?:api[\w.-]?key|apikey)", r"[\w-]{44}",
      "IBM_CLOUD_API_KEY=«{x:44}»", "IBM_CLOUD_API_KEY={x:43}").entropy(3.5),
    a("heroku-api-key", "Heroku API key", &["heroku"],
      r"heroku[\w.-]{0,20}?(?:api[\w.-]?key|token|key)", UUID,
      concat!("HEROKU_API_KEY=«", uuid_t!(), "»"), "HEROKU_API_KEY={h:8}-{h:4}-{h:4}-{h:11}"),
    r("heroku-api-key-v2", "Heroku API key (v2)", &["hrku-"],
      r"\b(HRKU-AA[\w-]{58})(?:[^\w-]|$)", "«HRKU-AA{u:58}»", "HRKU-AA{u:50}"),
    r("flyio-access-token", "Fly.io access token", &["fo1_", "fm1", "fm2_"],
      r"\b(fo1_[\w-]{43}|fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3})(?:[^\w+/=-]|$)",
      "FLY_API_TOKEN=«fo1_{u:43}»", "FLY_API_TOKEN=fo1_{u:30}"),
    a("linode-api-token", "Linode API token", &["linode"],
      r"linode[\w.-]{0,20}?(?:token|key)", "[a-f0-9]{64}",
      "LINODE_TOKEN=«{h:64}»", "LINODE_TOKEN={h:63}"),
    a("vultr-api-key", "Vultr API key", &["vultr"],
      r"vultr[\w.-]{0,20}?(?:key|token)", "[A-Z0-9]{36}",
      "VULTR_API_KEY=«{A:36}»", "VULTR_API_KEY={A:35}").entropy(3.5),
    a("scaleway-secret-key", "Scaleway secret key", &["scw_", "scaleway"],
      r"(?:scw|scaleway)[\w.-]{0,20}?secret", UUID,
      concat!("SCW_SECRET_KEY=«", uuid_t!(), "»"), "SCW_SECRET_KEY={h:8}-{h:4}-{h:12}"),
    a("hetzner-cloud-api-token", "Hetzner Cloud API token", &["hcloud", "hetzner"],
      r"(?:hcloud|hetzner)[\w.-]{0,20}?token", "[A-Za-z0-9]{64}",
      "HCLOUD_TOKEN=«{x:64}»", "HCLOUD_TOKEN={x:63}").entropy(3.5),
    r("yandex-api-key", "Yandex Cloud API key", &["aqvn"],
      r"\b(AQVN[\w-]{35,38})(?:[^\w-]|$)", "«AQVN{u:36}»", "AQVN{u:20}"),
    r("yandex-access-token", "Yandex Cloud IAM token", &["t1."],
      r"\b(t1\.[A-Z0-9a-z_-]+={0,2}\.[A-Z0-9a-z_-]{86}={0,2})(?:[^\w=-]|$)", "«t1.{u:40}.{u:86}»", "t1.{u:40}.{u:50}"),
    r("oracle-cloud-api-key-fingerprint", "Oracle Cloud API signing key fingerprint with tenancy", &["ocid1.tenancy"],
      r"\b(ocid1\.tenancy\.oc1\.\.[a-z0-9]{60})\b", "tenancy=«ocid1.tenancy.oc1..{a:60}»", "tenancy=ocid1.tenancy.oc1..{a:40}"),

    // --------------------------------------------------------- source hosts
    r("github-pat", "GitHub personal access token", &["ghp_"],
      r"\b(ghp_[A-Za-z0-9]{36})\b", "GITHUB_TOKEN=«ghp_{x:36}»", "GITHUB_TOKEN=ghp_{x:35}"),
    r("github-oauth", "GitHub OAuth access token", &["gho_"],
      r"\b(gho_[A-Za-z0-9]{36})\b", "«gho_{x:36}»", "gho_{x:35}"),
    r("github-app-token", "GitHub app user-to-server / server-to-server token", &["ghu_", "ghs_"],
      r"\b((?:ghu|ghs)_[A-Za-z0-9]{36})\b", "token: «ghs_{x:36}»", "token: ghs_{x:30}"),
    r("github-refresh-token", "GitHub refresh token", &["ghr_"],
      r"\b(ghr_[A-Za-z0-9]{36,76})\b", "«ghr_{x:76}»", "ghr_{x:30}"),
    r("github-fine-grained-pat", "GitHub fine-grained personal access token", &["github_pat_"],
      r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b", "«github_pat_{x:22}_{x:59}»", "github_pat_{x:22}_{x:50}"),
    r("gitlab-pat", "GitLab personal access token", &["glpat-"],
      r"\b(glpat-[\w-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?:[^\w.-]|$)", "«glpat-{u:20}»", "glpat-{u:19}"),
    r("gitlab-ptt", "GitLab pipeline trigger token", &["glptt-"],
      r"\b(glptt-[0-9a-f]{40})\b", "«glptt-{h:40}»", "glptt-{h:39}"),
    r("gitlab-rrt", "GitLab runner registration token", &["gr1348941"],
      r"\b(GR1348941[\w-]{20})(?:[^\w-]|$)", "«GR1348941{u:20}»", "GR1348941{u:19}"),
    r("gitlab-runner-authentication-token", "GitLab runner authentication token", &["glrt-"],
      r"\b(glrt-[\w-]{20,})(?:[^\w.-]|$)", "«glrt-{u:20}»", "glrt-{u:10}"),
    r("gitlab-deploy-token", "GitLab deploy token", &["gldt-"],
      r"\b(gldt-[\w-]{20})(?:[^\w-]|$)", "«gldt-{u:20}»", "gldt-{u:19}"),
    r("gitlab-feed-token", "GitLab feed token", &["glft-"],
      r"\b(glft-[\w-]{20})(?:[^\w-]|$)", "«glft-{u:20}»", "glft-{u:19}"),
    r("gitlab-incoming-mail-token", "GitLab incoming mail token", &["glimt-"],
      r"\b(glimt-[\w-]{25})(?:[^\w-]|$)", "«glimt-{u:25}»", "glimt-{u:24}"),
    r("gitlab-kubernetes-agent-token", "GitLab Kubernetes agent token", &["glagent-"],
      r"\b(glagent-[\w-]{50})(?:[^\w-]|$)", "«glagent-{u:50}»", "glagent-{u:49}"),
    r("gitlab-oauth-app-secret", "GitLab OAuth application secret", &["gloas-"],
      r"\b(gloas-[\w-]{64})(?:[^\w-]|$)", "«gloas-{u:64}»", "gloas-{u:63}"),
    r("gitlab-scim-token", "GitLab SCIM token", &["glsoat-"],
      r"\b(glsoat-[\w-]{20})(?:[^\w-]|$)", "«glsoat-{u:20}»", "glsoat-{u:19}"),
    r("gitlab-cicd-job-token", "GitLab CI/CD job token", &["glcbt-"],
      r"\b(glcbt-[0-9a-zA-Z]{1,5}_[\w-]{20})(?:[^\w-]|$)", "«glcbt-{x:2}_{u:20}»", "glcbt-{x:2}_{u:19}"),
    r("gitlab-feature-flag-client-token", "GitLab feature flag client token", &["glffct-"],
      r"\b(glffct-[\w-]{20})(?:[^\w-]|$)", "«glffct-{u:20}»", "glffct-{u:19}"),
    r("gitlab-session-cookie", "GitLab session cookie", &["_gitlab_session="],
      r"_gitlab_session=([0-9a-z]{32})\b", "Cookie: _gitlab_session=«{a:32}»", "Cookie: _gitlab_session={a:31}"),
    r("bitbucket-app-password", "Bitbucket app password / Atlassian app token", &["atbb"],
      r"\b(ATBB[A-Za-z0-9_=.-]{28,60})(?:[^\w=.-]|$)", "BITBUCKET_APP_PASSWORD=«ATBB{x:32}»", "ATBB{x:20}"),
    r("atlassian-api-token", "Atlassian API token", &["atatt3", "atctt3"],
      r"\b((?:ATATT3|ATCTT3)[\w=-]{150,300})(?:[^\w=-]|$)", "JIRA_TOKEN=«ATATT3{u:186}»", "JIRA_TOKEN=ATATT3{u:100}"),
    a("bitbucket-client-secret", "Bitbucket OAuth consumer secret", &["bitbucket"],
      r"bitbucket[\w.-]{0,20}?secret", r"[\w-]{32}",
      "BITBUCKET_CLIENT_SECRET=«{x:32}»", "BITBUCKET_CLIENT_SECRET={x:31}").entropy(3.5),
    r("sourcegraph-access-token", "Sourcegraph access token", &["sgp_"],
      r"\b(sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40})\b", "«sgp_{h:16}_{h:40}»", "sgp_{h:16}_{h:39}"),
    a("gitter-access-token", "Gitter access token", &["gitter"],
      r"gitter[\w.-]{0,20}?(?:token|key)", "[a-z0-9_-]{40}",
      "GITTER_TOKEN=«{a:40}»", "GITTER_TOKEN={a:39}").entropy(3.0),
    a("codecov-access-token", "Codecov access token", &["codecov"],
      r"codecov[\w.-]{0,20}?token", "[a-z0-9]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
      "CODECOV_TOKEN=«{a:32}»", "CODECOV_TOKEN={a:31}").entropy(3.0),
    a("travisci-access-token", "Travis CI access token", &["travis"],
      r"travis[\w.-]{0,20}?token", "[A-Za-z0-9_-]{22}",
      "TRAVIS_TOKEN=«{x:22}»", "TRAVIS_TOKEN={x:21}").entropy(3.0),
    a("droneci-access-token", "Drone CI access token", &["drone"],
      r"drone[\w.-]{0,20}?token", "[A-Za-z0-9]{32}",
      "DRONE_TOKEN=«{x:32}»", "DRONE_TOKEN={x:31}").entropy(3.0),
    r("circleci-personal-token", "CircleCI personal API token", &["ccipat_"],
      r"\b(CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40})\b", "«CCIPAT_{x:22}_{h:40}»", "CCIPAT_{x:22}_{h:39}"),
    r("buildkite-agent-token", "Buildkite user access token", &["bkua_"],
      r"\b(bkua_[a-f0-9]{40})\b", "«bkua_{h:40}»", "bkua_{h:39}"),
    a("gitea-access-token", "Gitea / Forgejo access token", &["gitea", "forgejo"],
      r"(?:gitea|forgejo)[\w.-]{0,20}?token", "[a-f0-9]{40}",
      "GITEA_TOKEN=«{h:40}»", "GITEA_TOKEN={h:39}"),

    // --------------------------------------------------------- LLM providers
    r("anthropic-api-key", "Anthropic API key", &["sk-ant-api03-"],
      r"\b(sk-ant-api03-[\w-]{93}AA)(?:[^\w-]|$)", "ANTHROPIC_API_KEY=«sk-ant-api03-{u:93}AA»", "ANTHROPIC_API_KEY=sk-ant-api03-{u:50}AA"),
    r("anthropic-admin-api-key", "Anthropic admin API key", &["sk-ant-admin01-"],
      r"\b(sk-ant-admin01-[\w-]{93}AA)(?:[^\w-]|$)", "«sk-ant-admin01-{u:93}AA»", "sk-ant-admin01-{u:50}AA"),
    r("anthropic-oauth-token", "Anthropic OAuth token", &["sk-ant-oat01-", "sk-ant-ort01-"],
      r"\b(sk-ant-o[ar]t01-[\w-]{80,120})(?:[^\w-]|$)", "«sk-ant-oat01-{u:95}»", "sk-ant-oat01-{u:40}"),
    r("openai-api-key", "OpenAI API key", &["t3blbkfj", "sk-proj-", "sk-svcacct-", "sk-admin-"],
      r"\b(sk-(?:(?:proj|svcacct|admin)-)?[\w-]{20,200}T3BlbkFJ[\w-]{20,200}|sk-(?:proj|svcacct|admin)-[\w-]{80,250})(?:[^\w-]|$)",
      "OPENAI_API_KEY=«sk-proj-{u:58}T3BlbkFJ{u:58}»", "OPENAI_API_KEY=sk-proj-{u:30}"),
    r("huggingface-access-token", "Hugging Face access token", &["hf_"],
      r"\b(hf_[A-Za-z]{34})\b", "HF_TOKEN=«hf_{L:34}»", "HF_TOKEN=hf_{L:33}"),
    r("huggingface-organization-api-token", "Hugging Face organization API token", &["api_org_"],
      r"\b(api_org_[A-Za-z]{34})\b", "«api_org_{L:34}»", "api_org_{L:33}"),
    r("groq-api-key", "Groq API key", &["gsk_"],
      r"\b(gsk_[A-Za-z0-9]{52})\b", "GROQ_API_KEY=«gsk_{x:52}»", "GROQ_API_KEY=gsk_{x:51}"),
    r("xai-api-key", "xAI API key", &["xai-"],
      r"\b(xai-[A-Za-z0-9]{80})\b", "XAI_API_KEY=«xai-{x:80}»", "XAI_API_KEY=xai-{x:79}"),
    r("replicate-api-token", "Replicate API token", &["r8_"],
      r"\b(r8_[A-Za-z0-9]{37})\b", "REPLICATE_API_TOKEN=«r8_{x:37}»", "REPLICATE_API_TOKEN=r8_{x:36}"),
    r("perplexity-api-key", "Perplexity API key", &["pplx-"],
      r"\b(pplx-[A-Za-z0-9]{48})\b", "«pplx-{x:48}»", "pplx-{x:47}"),
    a("cohere-api-token", "Cohere API key", &["cohere", "co_api"],
      r"cohere[\w.-]{0,20}?(?:key|token)|co_api_key", "[A-Za-z0-9]{40}",
      "COHERE_API_KEY=«{x:40}»", "COHERE_API_KEY={x:39}").entropy(3.5),
    a("mistral-api-key", "Mistral AI API key", &["mistral"],
      r"mistral[\w.-]{0,20}?(?:key|token)", "[A-Za-z0-9]{32}",
      "MISTRAL_API_KEY=«{x:32}»", "MISTRAL_API_KEY={x:31}").entropy(3.5),
    a("deepseek-api-key", "DeepSeek API key", &["deepseek"],
      r"deepseek[\w.-]{0,20}?(?:key|token)", "sk-[a-f0-9]{32}",
      "DEEPSEEK_API_KEY=«sk-{h:32}»", "DEEPSEEK_API_KEY=sk-{h:31}"),
    r("openrouter-api-key", "OpenRouter API key", &["sk-or-v1-"],
      r"\b(sk-or-v1-[a-f0-9]{64})\b", "«sk-or-v1-{h:64}»", "sk-or-v1-{h:63}"),
    r("together-api-key", "Together AI API key", &["tgp_v1_"],
      r"\b(tgp_v1_[\w-]{43})(?:[^\w-]|$)", "«tgp_v1_{u:43}»", "tgp_v1_{u:42}"),
    r("langsmith-api-key", "LangSmith API key", &["lsv2_"],
      r"\b(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b", "«lsv2_pt_{h:32}_{h:10}»", "lsv2_pt_{h:32}_{h:9}"),
    r("pinecone-api-key", "Pinecone API key", &["pcsk_"],
      r"\b(pcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{60,80})\b", "«pcsk_{x:6}_{x:63}»", "pcsk_{x:6}_{x:30}"),
    a("elevenlabs-api-key", "ElevenLabs API key", &["elevenlabs", "xi-api-key", "xi_api_key"],
      r"elevenlabs[\w.-]{0,20}?key|xi[_-]api[_-]key", "(?:sk_)?[a-f0-9]{32,48}",
      "ELEVENLABS_API_KEY=«sk_{h:48}»", "ELEVENLABS_API_KEY=sk_{h:20}"),
    a("wandb-api-key", "Weights & Biases API key", &["wandb"],
      r"wandb[\w.-]{0,20}?key", "[a-f0-9]{40}",
      "WANDB_API_KEY=«{h:40}»", "WANDB_API_KEY={h:39}"),
    r("cerebras-api-key", "Cerebras API key", &["csk-"],
      r"\b(csk-[a-z0-9]{48})\b", "«csk-{a:48}»", "csk-{a:47}"),
    a("deepgram-api-key", "Deepgram API key", &["deepgram"],
      r"deepgram[\w.-]{0,20}?(?:key|token)", "[a-f0-9]{40}",
      "DEEPGRAM_API_KEY=«{h:40}»", "DEEPGRAM_API_KEY={h:39}"),
    a("google-gemini-api-key", "Gemini API key assignment", &["gemini"],
      r"gemini[\w.-]{0,20}?key", r"AIza[\w-]{35}",
      "GEMINI_API_KEY=«AIza{u:35}»", "GEMINI_API_KEY=AIza{u:30}"),
    a("fireworks-api-key", "Fireworks AI API key", &["fireworks"],
      r"fireworks[\w.-]{0,20}?key", "fw_[A-Za-z0-9]{24,}",
      "FIREWORKS_API_KEY=«fw_{x:24}»", "FIREWORKS_API_KEY=fw_{x:10}"),

    // -------------------------------------------------------------- payments
    r("stripe-access-token", "Stripe secret or restricted key", &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
      r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,247})\b", "STRIPE_SECRET_KEY=«sk_live_{x:99}»", "STRIPE_SECRET_KEY=sk_live_{x:20}"),
    r("stripe-webhook-secret", "Stripe webhook signing secret", &["whsec_"],
      r"\b(whsec_[A-Za-z0-9]{32,})\b", "«whsec_{x:32}»", "whsec_{x:31}"),
    r("square-access-token", "Square access token", &["eaaa", "sq0atp-"],
      r"(?:^|[^\w+/-])(EAAA[\w-]{60}|sq0atp-[\w-]{22})(?:[^\w-]|$)", "SQUARE_ACCESS_TOKEN=«EAAA{u:60}»", "SQUARE_ACCESS_TOKEN=EAAA{u:59}"),
    r("square-oauth-secret", "Square OAuth secret", &["sq0csp-"],
      r"\b(sq0csp-[\w-]{43})(?:[^\w-]|$)", "«sq0csp-{u:43}»", "sq0csp-{u:42}"),
    r("braintree-access-token", "PayPal Braintree access token", &["access_token$production$"],
      r"\b(access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32})\b", "«access_token$production${a:16}${h:32}»", "access_token$production${a:16}${h:31}"),
    r("razorpay-key", "Razorpay key id", &["rzp_live_", "rzp_test_"],
      r"\b(rzp_(?:live|test)_[A-Za-z0-9]{14})\b", "«rzp_live_{x:14}»", "rzp_live_{x:13}"),
    r("flutterwave-secret-key", "Flutterwave secret key", &["flwseck"],
      r"\b(FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)\b", "«FLWSECK_TEST-{h:32}-X»", "FLWSECK_TEST-{h:31}-X"),
    r("flutterwave-public-key", "Flutterwave public key", &["flwpubk"],
      r"\b(FLWPUBK(?:_TEST)?-[a-h0-9]{32}-X)\b", "«FLWPUBK_TEST-{h:32}-X»", "FLWPUBK_TEST-{h:31}-X"),
    r("flutterwave-encryption-key", "Flutterwave encryption key", &["flwseck"],
      r"\b(FLWSECK(?:_TEST)?[a-h0-9]{12})\b", "«FLWSECK_TEST{h:12}»", "FLWSECK_TEST{h:11}"),
    a("gocardless-api-token", "GoCardless access token", &["gocardless"],
      r"gocardless[\w.-]{0,20}?(?:token|key)", "live_[\\w=-]{40}",
      "GOCARDLESS_TOKEN=«live_{u:40}»", "GOCARDLESS_TOKEN=live_{u:39}"),
    r("plaid-api-token", "Plaid access token", &["access-sandbox-", "access-development-", "access-production-"],
      r"\b(access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
      concat!("«access-production-", uuid_t!(), "»"), "access-production-{h:8}-{h:4}-{h:4}-{h:12}"),
    a("plaid-secret-key", "Plaid secret", &["plaid"],
      r"plaid[\w.-]{0,20}?secret", "[a-f0-9]{30}",
      "PLAID_SECRET=«{h:30}»", "PLAID_SECRET={h:29}"),
    r("shopify-access-token", "Shopify access token", &["shpat_"],
      r"\b(shpat_[a-fA-F0-9]{32})\b", "«shpat_{h:32}»", "shpat_{h:31}"),
    r("shopify-custom-access-token", "Shopify custom app access token", &["shpca_"],
      r"\b(shpca_[a-fA-F0-9]{32})\b", "«shpca_{h:32}»", "shpca_{h:31}"),
    r("shopify-private-app-access-token", "Shopify private app access token", &["shppa_"],
      r"\b(shppa_[a-fA-F0-9]{32})\b", "«shppa_{h:32}»", "shppa_{h:31}"),
    r("shopify-shared-secret", "Shopify shared secret", &["shpss_"],
      r"\b(shpss_[a-fA-F0-9]{32})\b", "«shpss_{h:32}»", "shpss_{h:31}"),
    r("easypost-api-token", "EasyPost API key", &["ezak"],
      r"\b(EZAK[a-zA-Z0-9]{54})\b", "«EZAK{x:54}»", "EZAK{x:53}"),
    r("easypost-test-api-token", "EasyPost test API key", &["eztk"],
      r"\b(EZTK[a-zA-Z0-9]{54})\b", "«EZTK{x:54}»", "EZTK{x:53}"),
    r("duffel-api-token", "Duffel API token", &["duffel_"],
      r"\b(duffel_(?:test|live)_[\w=-]{43})(?:[^\w=-]|$)", "«duffel_live_{u:43}»", "duffel_live_{u:42}"),
    a("coinbase-access-token", "Coinbase access token", &["coinbase"],
      r"coinbase[\w.-]{0,20}?(?:token|secret|key)", r"[\w-]{64}",
      "COINBASE_API_SECRET=«{x:64}»", "COINBASE_API_SECRET={x:63}").entropy(3.5),
    a("paypal-client-secret", "PayPal client secret", &["paypal"],
      r"paypal[\w.-]{0,20}?secret", r"[\w-]{80}",
      "PAYPAL_CLIENT_SECRET=«{x:80}»", "PAYPAL_CLIENT_SECRET={x:79}").entropy(3.5),
    a("adyen-api-key", "Adyen API key", &["adyen"],
      r"adyen[\w.-]{0,20}?key", r"AQE[\w.+/=-]{60,}",
      "ADYEN_API_KEY=«AQE{x:100}»", "ADYEN_API_KEY=AQE{x:30}"),

    // ------------------------------------------------------------------ chat
    r("slack-bot-token", "Slack bot token", &["xoxb-"],
      r"\b(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24,34})\b", "SLACK_BOT_TOKEN=«xoxb-{d:12}-{d:13}-{x:24}»", "SLACK_BOT_TOKEN=xoxb-{d:12}-{d:13}-{x:10}"),
    r("slack-user-token", "Slack user token", &["xoxp-", "xoxe-"],
      r"\b(xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34})\b", "«xoxp-{d:12}-{d:12}-{d:12}-{h:32}»", "xoxp-{d:12}-{d:12}-{h:32}"),
    r("slack-app-token", "Slack app-level token", &["xapp-"],
      r"(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)\b", "«xapp-1-A{A:10}-{d:13}-{h:64}»", "xapp-1-{h:64}"),
    r("slack-config-access-token", "Slack configuration access token", &["xoxe.xox"],
      r"(?i)\b(xoxe\.xox[bp]-\d-[A-Z0-9]{163,166})\b", "«xoxe.xoxp-1-{A:164}»", "xoxe.xoxp-1-{A:100}"),
    r("slack-config-refresh-token", "Slack configuration refresh token", &["xoxe-"],
      r"(?i)\b(xoxe-\d-[A-Z0-9]{146})\b", "«xoxe-1-{A:146}»", "xoxe-1-{A:140}"),
    r("slack-legacy-token", "Slack legacy token", &["xoxo-", "xoxs-"],
      r"\b(xox[os]-\d+-\d+-\d+-[a-fA-F\d]+)\b", "«xoxs-{d:10}-{d:11}-{d:12}-{h:64}»", "xoxs-{d:10}-{h:64}"),
    r("slack-legacy-workspace-token", "Slack legacy workspace token", &["xoxa-", "xoxr-"],
      r"\b(xox[ar]-(?:\d-)?[0-9a-zA-Z]{8,48})\b", "«xoxa-2-{x:40}»", "xoxa-2-{x:5}"),
    r("slack-legacy-bot-token", "Slack legacy bot token", &["xoxb-"],
      r"\b(xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26})\b", "«xoxb-{d:12}-{x:24}»", "xoxb-{d:12}-{x:10}"),
    r("slack-webhook-url", "Slack incoming webhook URL", &["hooks.slack.com"],
      r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})",
      "«https://hooks.slack.com/services/T{A:8}/B{A:8}/{x:24}»", "https://hooks.slack.com/services/T{A:8}/B{A:8}"),
    a("discord-bot-token", "Discord bot token", &["discord"],
      r"discord[\w.-]{0,20}?token", r"[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,40}",
      "DISCORD_TOKEN=«M{x:25}.{x:6}.{x:38}»", "DISCORD_TOKEN=M{x:25}.{x:6}"),
    a("discord-api-token", "Discord application key", &["discord"],
      r"discord[\w.-]{0,20}?(?:key|public)", "[a-f0-9]{64}",
      "DISCORD_PUBLIC_KEY=«{h:64}»", "DISCORD_PUBLIC_KEY={h:63}"),
    a("discord-client-secret", "Discord client secret", &["discord"],
      r"discord[\w.-]{0,20}?secret", r"[\w-]{32}",
      "DISCORD_CLIENT_SECRET=«{x:32}»", "DISCORD_CLIENT_SECRET={x:31}").entropy(3.5),
    r("discord-webhook-url", "Discord webhook URL", &["discord"],
      r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[\w-]{60,70})(?:[^\w-]|$)",
      "«https://discord.com/api/webhooks/{d:18}/{u:68}»", "https://discord.com/api/webhooks/{d:18}/{u:20}"),
    r("telegram-bot-api-token", "Telegram bot API token", &[":aa"],
      r"(?:^|[^\w:])(\d{8,10}:AA[\w-]{33})(?:[^\w-]|$)", "TELEGRAM_TOKEN=«{d:10}:AA{u:33}»", "TELEGRAM_TOKEN={d:10}:AA{u:32}"),
    r("microsoft-teams-webhook", "Microsoft Teams incoming webhook", &["webhook.office.com"],
      r"(https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9-]{36}@[a-z0-9-]{36}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9-]{36})",
      concat!("«https://acme.webhook.office.com/webhookb2/", uuid_t!(), "@", uuid_t!(), "/IncomingWebhook/{h:32}/", uuid_t!(), "»"),
      "https://acme.webhook.office.com/webhookb2/{h:8}/IncomingWebhook/{h:32}"),
    a("mattermost-access-token", "Mattermost access token", &["mattermost"],
      r"mattermost[\w.-]{0,20}?token", "[a-z0-9]{26}",
      "MATTERMOST_TOKEN=«{a:26}»", "MATTERMOST_TOKEN={a:25}").entropy(3.0),
    a("twitch-api-token", "Twitch API token", &["twitch"],
      r"twitch[\w.-]{0,20}?(?:token|secret)", "[a-z0-9]{30}",
      "TWITCH_CLIENT_SECRET=«{a:30}»", "TWITCH_CLIENT_SECRET={a:29}").entropy(3.0),
    a("zoom-api-secret", "Zoom API secret", &["zoom"],
      r"zoom[\w.-]{0,20}?secret", "[A-Za-z0-9]{32}",
      "ZOOM_CLIENT_SECRET=«{x:32}»", "ZOOM_CLIENT_SECRET={x:31}").entropy(3.5),
    a("line-channel-secret", "LINE channel secret / access token", &["line_channel"],
      r"line_channel_(?:secret|access_token)", r"[a-f0-9]{32}|[A-Za-z0-9+/=]{172}",
      "LINE_CHANNEL_SECRET=«{h:32}»", "LINE_CHANNEL_SECRET={h:31}"),

    // ------------------------------------------------------ package registries
    r("npm-access-token", "npm access token", &["npm_"],
      r"\b(npm_[A-Za-z0-9]{36})\b", "//registry.npmjs.org/:_authToken=«npm_{x:36}»", "npm_{x:35}"),
    r("pypi-upload-token", "PyPI upload token", &["pypi-ageichlwas5vcmc"],
      r"\b(pypi-AgEIcHlwaS5vcmc[\w-]{50,})(?:[^\w-]|$)", "password = «pypi-AgEIcHlwaS5vcmc{u:120}»", "password = pypi-AgEIcHlwaS5vcmc{u:20}"),
    r("crates-io-api-token", "crates.io API token", &["cio"],
      r"\b(cio[A-Za-z0-9]{32})\b", "CARGO_REGISTRY_TOKEN=«cio{x:32}»", "CARGO_REGISTRY_TOKEN=cio{x:31}").entropy(3.0),
    r("rubygems-api-token", "RubyGems API key", &["rubygems_"],
      r"\b(rubygems_[a-f0-9]{48})\b", "«rubygems_{h:48}»", "rubygems_{h:47}"),
    r("nuget-api-key", "NuGet API key", &["oy2"],
      r"\b(oy2[a-z0-9]{43})\b", "«oy2{a:43}»", "oy2{a:42}").entropy(3.0),
    r("nuget-config-password", "NuGet config password", &["password"],
      r#"(?i)<add\s+key="(?:ClearText)?Password"\s+value="([^"]{8,})""#,
      r#"<add key="ClearTextPassword" value="«{x:16}»" />"#, r#"<add key="Username" value="{x:16}" />"#),
    r("docker-hub-pat", "Docker Hub access token", &["dckr_pat_", "dckr_oat_"],
      r"\b(dckr_[po]at_[\w-]{27,32})(?:[^\w-]|$)", "«dckr_pat_{u:27}»", "dckr_pat_{u:20}"),
    r("artifactory-api-key", "JFrog Artifactory API key", &["akcp"],
      r"\b(AKCp[A-Za-z0-9]{69})\b", "«AKCp{x:69}»", "AKCp{x:60}"),
    r("artifactory-reference-token", "JFrog Artifactory reference token", &["cmvmd"],
      r"\b(cmVmd[A-Za-z0-9]{59})\b", "«cmVmd{x:59}»", "cmVmd{x:50}"),
    a("jfrog-identity-token", "JFrog identity token", &["jfrog", "artifactory"],
      r"(?:jfrog|artifactory)[\w.-]{0,20}?(?:token|password)", "[A-Za-z0-9]{64}",
      "JFROG_ACCESS_TOKEN=«{x:64}»", "JFROG_ACCESS_TOKEN={x:63}").entropy(3.5),
    r("clojars-api-token", "Clojars deploy token", &["clojars_"],
      r"\b(CLOJARS_[a-z0-9]{60})\b", "«CLOJARS_{a:60}»", "CLOJARS_{a:59}"),
    r("pulumi-api-token", "Pulumi access token", &["pul-"],
      r"\b(pul-[a-f0-9]{40})\b", "«pul-{h:40}»", "pul-{h:39}"),
    r("hashicorp-tf-api-token", "Terraform Cloud / Enterprise API token", &["atlasv1"],
      r"\b([A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,70})(?:[^\w=-]|$)", "«{x:14}.atlasv1.{x:67}»", "{x:14}.atlasv1.{x:40}"),
    r("hashicorp-tf-password", "Terraform / HCL password assignment", &["administrator_login_password", "admin_password"],
      r#"(?i)(?:administrator_login_password|admin_password)\s*=\s*"([^"$]{8,})""#, r#"administrator_login_password = "«{x:16}»""#, r#"administrator_login_password = "${var.x}""#),
    r("npmrc-auth-token", "npm registry auth token in .npmrc", &["_authtoken", "_auth"],
      r"(?i):_auth(?:Token)?\s*=\s*['\x22]?([\w.~+/=-]{16,})", "//npm.pkg.github.com/:_authToken=«{x:40}»", "//npm.pkg.github.com/:_authToken=${NPM_TOKEN}").entropy(3.0),
    r("docker-config-auth", "Docker config registry auth", &["\"auth\""],
      r#""auth"\s*:\s*"([A-Za-z0-9+/]{20,}={0,2})""#, r#""auth": "«{b:48}»""#, r#""auth": """#).entropy(3.5),
    r("gradle-publish-key", "Gradle plugin portal key / secret", &["gradle.publish."],
      r"gradle\.publish\.(?:key|secret)\s*=\s*([A-Za-z0-9]{32})\b", "gradle.publish.secret=«{x:32}»", "gradle.publish.secret={x:31}"),

    // ------------------------------------------------------------- infra/SaaS
    r("vault-service-token", "HashiCorp Vault service token", &["hvs."],
      r"\b(hvs\.[\w-]{90,120})(?:[^\w-]|$)", "VAULT_TOKEN=«hvs.{u:95}»", "VAULT_TOKEN=hvs.{u:24}"),
    r("vault-batch-token", "HashiCorp Vault batch token", &["hvb."],
      r"\b(hvb\.[\w-]{138,300})(?:[^\w-]|$)", "«hvb.{u:150}»", "hvb.{u:60}"),
    a("vault-legacy-token", "HashiCorp Vault legacy token", &["vault"],
      r"vault[\w.-]{0,20}?token", r"s\.[A-Za-z0-9]{24}",
      "VAULT_TOKEN=«s.{x:24}»", "VAULT_TOKEN=s.{x:23}"),
    r("doppler-api-token", "Doppler token", &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
      r"\b(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})\b", "«dp.pt.{x:43}»", "dp.pt.{x:30}"),
    r("1password-secret-key", "1Password account secret key", &["a3-"],
      r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
      "«A3-{A:6}-{A:6}-{A:5}-{A:5}-{A:5}-{A:5}»", "A3-{A:6}-{A:6}-{A:5}-{A:5}"),
    r("1password-service-account-token", "1Password service account token", &["ops_eyj"],
      r"\b(ops_eyJ[A-Za-z0-9+/]{250,}={0,3})", "OP_SERVICE_ACCOUNT_TOKEN=«ops_eyJ{x:300}»", "ops_eyJ{x:50}"),
    r("age-secret-key", "age secret key", &["age-secret-key-1"],
      r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b", "«AGE-SECRET-KEY-1{C:58}»", "AGE-SECRET-KEY-1{C:57}"),
    r("sendgrid-api-token", "SendGrid API key", &["sg."],
      r"\b(SG\.[\w-]{22}\.[\w-]{43})(?:[^\w-]|$)", "SENDGRID_API_KEY=«SG.{u:22}.{u:43}»", "SENDGRID_API_KEY=SG.{u:22}.{u:40}"),
    r("twilio-api-key", "Twilio API key", &["sk"],
      r"\b(SK[0-9a-fA-F]{32})\b", "TWILIO_API_KEY=«SK{h:32}»", "TWILIO_API_KEY=SK{h:31}"),
    a("twilio-auth-token", "Twilio auth token", &["twilio"],
      r"twilio[\w.-]{0,20}?(?:token|secret)", "[a-f0-9]{32}",
      "TWILIO_AUTH_TOKEN=«{h:32}»", "TWILIO_AUTH_TOKEN={h:31}"),
    r("sendinblue-api-token", "Brevo (Sendinblue) API key", &["xkeysib-"],
      r"\b(xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})\b", "«xkeysib-{h:64}-{x:16}»", "xkeysib-{h:64}-{x:15}"),
    a("mailgun-private-api-token", "Mailgun API key", &["mailgun"],
      r"mailgun[\w.-]{0,20}?(?:key|token|secret)", "(?:key-)?[a-f0-9]{32}(?:-[a-f0-9]{8}-[a-f0-9]{8})?",
      "MAILGUN_API_KEY=«key-{h:32}»", "MAILGUN_API_KEY=key-{h:31}"),
    r("mailgun-pub-key", "Mailgun public validation key", &["pubkey-"],
      r"\b(pubkey-[a-f0-9]{32})\b", "«pubkey-{h:32}»", "pubkey-{h:31}"),
    r("mailchimp-api-key", "Mailchimp API key", &["-us"],
      r"\b([a-f0-9]{32}-us[0-9]{1,2})\b", "MAILCHIMP_KEY=«{h:32}-us21»", "MAILCHIMP_KEY={h:31}-us21"),
    a("mandrill-api-key", "Mandrill API key", &["mandrill"],
      r"mandrill[\w.-]{0,20}?key", r"md-[\w-]{22}",
      "MANDRILL_API_KEY=«md-{u:22}»", "MANDRILL_API_KEY=md-{u:21}"),
    a("postmark-server-token", "Postmark server token", &["postmark"],
      r"postmark[\w.-]{0,20}?(?:token|key)", UUID,
      concat!("POSTMARK_SERVER_TOKEN=«", uuid_t!(), "»"), "POSTMARK_SERVER_TOKEN={h:8}-{h:4}"),
    a("datadog-access-token", "Datadog API or application key", &["datadog", "dd_api", "dd_app"],
      r"(?:datadog|dd)[\w.-]{0,20}?(?:api|app)[\w.-]{0,10}?key", "[a-f0-9]{40}|[a-f0-9]{32}",
      "DD_API_KEY=«{h:32}»", "DD_API_KEY={h:31}"),
    r("sentry-user-token", "Sentry user auth token", &["sntryu_"],
      r"\b(sntryu_[a-f0-9]{64})\b", "SENTRY_AUTH_TOKEN=«sntryu_{h:64}»", "SENTRY_AUTH_TOKEN=sntryu_{h:63}"),
    r("sentry-org-token", "Sentry organization token", &["sntrys_"],
      r"\b(sntrys_eyJ[A-Za-z0-9+/=_-]{100,})", "«sntrys_eyJ{x:150}»", "sntrys_eyJ{x:50}"),
    a("sentry-access-token", "Sentry auth token (legacy)", &["sentry"],
      r"sentry[\w.-]{0,20}?(?:token|key)", "[a-f0-9]{64}",
      "SENTRY_AUTH_TOKEN=«{h:64}»", "SENTRY_AUTH_TOKEN={h:63}"),
    r("new-relic-user-api-key", "New Relic user API key", &["nrak-"],
      r"\b(NRAK-[A-Z0-9]{27})\b", "«NRAK-{A:27}»", "NRAK-{A:26}"),
    r("new-relic-insert-key", "New Relic insert key", &["nrii-"],
      r"\b(NRII-[\w-]{32})(?:[^\w-]|$)", "«NRII-{u:32}»", "NRII-{u:31}"),
    r("new-relic-browser-api-token", "New Relic browser API token", &["nrjs-"],
      r"\b(NRJS-[a-f0-9]{19})\b", "«NRJS-{h:19}»", "NRJS-{h:18}"),
    r("new-relic-license-key", "New Relic ingest license key", &["nral"],
      r"\b([a-f0-9]{36}NRAL)\b", "NEW_RELIC_LICENSE_KEY=«{h:36}NRAL»", "NEW_RELIC_LICENSE_KEY={h:35}NRAL"),
    r("grafana-api-key", "Grafana API key (legacy)", &["eyjrijoi"],
      r"\b(eyJrIjoi[A-Za-z0-9+/]{70,400}={0,3})", "«eyJrIjoi{x:100}»", "eyJrIjoi{x:50}"),
    r("grafana-cloud-api-token", "Grafana Cloud API token", &["glc_"],
      r"\b(glc_[A-Za-z0-9+/]{32,400}={0,3})", "«glc_{x:120}»", "glc_{x:31}"),
    r("grafana-service-account-token", "Grafana service account token", &["glsa_"],
      r"\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b", "«glsa_{x:32}_{h:8}»", "glsa_{x:32}_{h:7}"),
    r("dynatrace-api-token", "Dynatrace API token", &["dt0c01."],
      r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b", "«dt0c01.{A:24}.{A:64}»", "dt0c01.{A:24}.{A:63}"),
    r("launchdarkly-access-token", "LaunchDarkly SDK / API key", &["api-", "sdk-", "mob-"],
      r"\b((?:api|sdk|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
      concat!("LD_SDK_KEY=«sdk-", uuid_t!(), "»"), "LD_SDK_KEY=sdk-{h:8}-{h:4}-{h:4}-{h:11}"),
    r("linear-api-key", "Linear API key", &["lin_api_"],
      r"\b(lin_api_[A-Za-z0-9]{40})\b", "«lin_api_{x:40}»", "lin_api_{x:39}"),
    a("linear-client-secret", "Linear OAuth client secret", &["linear"],
      r"linear[\w.-]{0,20}?secret", "[a-f0-9]{32}",
      "LINEAR_CLIENT_SECRET=«{h:32}»", "LINEAR_CLIENT_SECRET={h:31}"),
    r("notion-api-token", "Notion integration token", &["ntn_", "secret_"],
      r"\b(ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})\b", "NOTION_TOKEN=«ntn_{d:11}{x:35}»", "NOTION_TOKEN=ntn_{d:11}{x:30}"),
    r("airtable-personnal-access-token", "Airtable personal access token", &["pat"],
      r"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b", "«pat{x:14}.{h:64}»", "pat{x:14}.{h:63}"),
    a("airtable-api-key", "Airtable API key (legacy)", &["airtable"],
      r"airtable[\w.-]{0,20}?key", "key[A-Za-z0-9]{14}",
      "AIRTABLE_API_KEY=«key{x:14}»", "AIRTABLE_API_KEY=key{x:13}"),
    a("asana-personal-access-token", "Asana personal access token", &["asana"],
      r"asana[\w.-]{0,20}?(?:token|pat)", "[0-9]/[0-9]{16}(?:/[0-9]{16})?:[a-f0-9]{32}",
      "ASANA_TOKEN=«1/{d:16}:{h:32}»", "ASANA_TOKEN=1/{d:16}:{h:31}"),
    r("databricks-api-token", "Databricks personal access token", &["dapi"],
      r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b", "DATABRICKS_TOKEN=«dapi{h:32}»", "DATABRICKS_TOKEN=dapi{h:31}"),
    a("okta-access-token", "Okta API token", &["okta"],
      r"okta[\w.-]{0,20}?(?:token|key)", r"00[\w-]{40}",
      "OKTA_API_TOKEN=«00{x:40}»", "OKTA_API_TOKEN=00{x:39}"),
    a("auth0-client-secret", "Auth0 client secret", &["auth0"],
      r"auth0[\w.-]{0,20}?secret", r"[\w-]{64}",
      "AUTH0_CLIENT_SECRET=«{x:64}»", "AUTH0_CLIENT_SECRET={x:63}").entropy(3.5),
    r("postman-api-token", "Postman API key", &["pmak-"],
      r"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b", "«PMAK-{h:24}-{h:34}»", "PMAK-{h:24}-{h:33}"),
    r("prefect-api-token", "Prefect API key", &["pnu_"],
      r"\b(pnu_[A-Za-z0-9]{36})\b", "«pnu_{x:36}»", "pnu_{x:35}"),
    r("readme-api-token", "ReadMe API key", &["rdme_"],
      r"\b(rdme_[a-z0-9]{70})\b", "«rdme_{a:70}»", "rdme_{a:69}"),
    r("planetscale-password", "PlanetScale password", &["pscale_pw_"],
      r"\b(pscale_pw_[\w.-]{32,64})(?:[^\w.-]|$)", "«pscale_pw_{u:43}»", "pscale_pw_{u:20}"),
    r("planetscale-api-token", "PlanetScale API token", &["pscale_tkn_"],
      r"\b(pscale_tkn_[\w.-]{32,64})(?:[^\w.-]|$)", "«pscale_tkn_{u:43}»", "pscale_tkn_{u:20}"),
    r("planetscale-oauth-token", "PlanetScale OAuth token", &["pscale_oauth_"],
      r"\b(pscale_oauth_[\w.-]{32,64})(?:[^\w.-]|$)", "«pscale_oauth_{u:43}»", "pscale_oauth_{u:20}"),
    r("supabase-access-token", "Supabase access token", &["sbp_"],
      r"\b(sbp_[a-f0-9]{40})\b", "SUPABASE_ACCESS_TOKEN=«sbp_{h:40}»", "SUPABASE_ACCESS_TOKEN=sbp_{h:39}"),
    r("supabase-secret-key", "Supabase secret API key", &["sb_secret_"],
      r"\b(sb_secret_[\w-]{31,})(?:[^\w-]|$)", "«sb_secret_{u:31}»", "sb_secret_{u:20}"),
    r("netlify-access-token", "Netlify access token", &["nfp_"],
      r"\b(nfp_[A-Za-z0-9]{36})\b", "«nfp_{x:36}»", "nfp_{x:35}"),
    a("vercel-token", "Vercel access token", &["vercel"],
      r"vercel[\w.-]{0,20}?token", "[A-Za-z0-9]{24}",
      "VERCEL_TOKEN=«{x:24}»", "VERCEL_TOKEN={x:23}").entropy(3.5),
    r("render-api-key", "Render API key", &["rnd_"],
      r"\b(rnd_[A-Za-z0-9]{32})\b", "«rnd_{x:32}»", "rnd_{x:31}"),
    a("snyk-api-token", "Snyk API token", &["snyk"],
      r"snyk[\w.-]{0,20}?(?:token|key)", UUID,
      concat!("SNYK_TOKEN=«", uuid_t!(), "»"), "SNYK_TOKEN={h:8}-{h:4}-{h:4}"),
    r("sonar-api-token", "SonarQube / SonarCloud token", &["squ_", "sqp_", "sqa_"],
      r"\b((?:squ|sqp|sqa)_[a-f0-9]{40})\b", "SONAR_TOKEN=«squ_{h:40}»", "SONAR_TOKEN=squ_{h:39}"),
    r("shippo-api-token", "Shippo API token", &["shippo_"],
      r"\b(shippo_(?:live|test)_[a-f0-9]{40})\b", "«shippo_live_{h:40}»", "shippo_live_{h:39}"),
    r("typeform-api-token", "Typeform personal token", &["tfp_"],
      r"\b(tfp_[\w.=-]{59})(?:[^\w.=-]|$)", "«tfp_{u:59}»", "tfp_{u:40}"),
    r("frameio-api-token", "Frame.io API token", &["fio-u-"],
      r"\b(fio-u-[\w=-]{64})(?:[^\w=-]|$)", "«fio-u-{u:64}»", "fio-u-{u:63}"),
    a("fastly-api-token", "Fastly API token", &["fastly"],
      r"fastly[\w.-]{0,20}?(?:token|key)", r"[\w-]{32}",
      "FASTLY_API_TOKEN=«{x:32}»", "FASTLY_API_TOKEN={x:31}").entropy(3.5),
    a("algolia-api-key", "Algolia admin API key", &["algolia"],
      r"algolia[\w.-]{0,20}?key", "[a-f0-9]{32}",
      "ALGOLIA_ADMIN_KEY=«{h:32}»", "ALGOLIA_ADMIN_KEY={h:31}"),
    r("mapbox-api-token", "Mapbox secret token", &["sk.eyj"],
      r"\b(sk\.eyJ[\w-]{50,}\.[\w-]{20,})(?:[^\w-]|$)", "«sk.eyJ{u:60}.{u:22}»", "sk.eyJ{u:60}"),
    r("hubspot-private-app-token", "HubSpot private app token", &["pat-na1-", "pat-eu1-"],
      r"\b(pat-(?:na|eu)1-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
      concat!("«pat-na1-", uuid_t!(), "»"), "pat-na1-{h:8}-{h:4}-{h:4}-{h:11}"),
    a("hubspot-api-key", "HubSpot API key (legacy)", &["hubspot", "hapikey"],
      r"hubspot[\w.-]{0,20}?key|hapikey", UUID,
      concat!("HUBSPOT_API_KEY=«", uuid_t!(), "»"), "HUBSPOT_API_KEY={h:8}-{h:4}"),
    a("zendesk-secret-key", "Zendesk API token", &["zendesk"],
      r"zendesk[\w.-]{0,20}?(?:token|secret|key)", "[A-Za-z0-9]{40}",
      "ZENDESK_API_TOKEN=«{x:40}»", "ZENDESK_API_TOKEN={x:39}").entropy(3.5),
    a("intercom-api-key", "Intercom access token", &["intercom"],
      r"intercom[\w.-]{0,20}?(?:token|key)", r"[\w=-]{60}",
      "INTERCOM_ACCESS_TOKEN=«{x:60}»", "INTERCOM_ACCESS_TOKEN={x:59}").entropy(3.5),
    r("facebook-access-token", "Facebook access token", &["eaam", "eaac"],
      r"(?:^|[^\w+/-])(EAA[MC][A-Za-z0-9]{100,})\b", "FB_TOKEN=«EAAM{x:150}»", "FB_TOKEN=EAAM{x:50}"),
    a("facebook-secret", "Facebook app secret", &["facebook", "fb_app"],
      r"(?:facebook|fb_app)[\w.-]{0,20}?secret", "[a-f0-9]{32}",
      "FACEBOOK_APP_SECRET=«{h:32}»", "FACEBOOK_APP_SECRET={h:31}"),
    r("twitter-bearer-token", "Twitter (X) bearer token", &["aaaaaaaaaaaaaaaaaaaaaa"],
      r"\b(A{22}[A-Za-z0-9%]{80,100})\b", "TWITTER_BEARER=«AAAAAAAAAAAAAAAAAAAAAA{x:90}»", "TWITTER_BEARER=AAAAAAAAAAAAAAAAAAAAAA{x:30}"),
    a("twitter-api-secret", "Twitter (X) API secret", &["twitter"],
      r"twitter[\w.-]{0,20}?secret", "[A-Za-z0-9]{50}",
      "TWITTER_API_SECRET=«{x:50}»", "TWITTER_API_SECRET={x:49}").entropy(3.5),
    r("dropbox-api-token", "Dropbox short-lived access token", &["sl."],
      r"\b(sl\.(?:u\.)?[\w-]{130,1000})(?:[^\w-]|$)", "DROPBOX_TOKEN=«sl.{u:140}»", "DROPBOX_TOKEN=sl.{u:60}"),
    a("dropbox-long-lived-api-token", "Dropbox long-lived access token", &["dropbox"],
      r"dropbox[\w.-]{0,20}?token", r"[a-z0-9]{11}AAAAAAAAAA[\w=-]{43}",
      "DROPBOX_TOKEN=«{a:11}AAAAAAAAAA{u:43}»", "DROPBOX_TOKEN={a:11}AAAAAAAAAA{u:40}"),
    r("contentful-personal-access-token", "Contentful personal access token", &["cfpat-"],
      r"\b(CFPAT-[\w-]{43})(?:[^\w-]|$)", "«CFPAT-{u:43}»", "CFPAT-{u:42}"),
    a("contentful-delivery-api-token", "Contentful delivery API token", &["contentful"],
      r"contentful[\w.-]{0,20}?(?:token|key)", r"[\w=-]{43}",
      "CONTENTFUL_DELIVERY_TOKEN=«{x:43}»", "CONTENTFUL_DELIVERY_TOKEN={x:42}").entropy(3.5),
    r("tailscale-key", "Tailscale auth / API key", &["tskey-"],
      r"\b(tskey-(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{10,}-[A-Za-z0-9]{20,})\b", "«tskey-auth-{x:17}-{x:33}»", "tskey-auth-{x:17}"),
    a("ngrok-auth-token", "ngrok auth token", &["ngrok"],
      r"ngrok[\w.-]{0,20}?(?:token|key)", "[0-9A-Za-z]{25,27}_[0-9A-Za-z]{20,22}",
      "NGROK_AUTHTOKEN=«{x:27}_{x:21}»", "NGROK_AUTHTOKEN={x:27}_{x:10}"),
    r("neon-api-key", "Neon API key", &["napi_"],
      r"\b(napi_[a-z0-9]{64})\b", "«napi_{a:64}»", "napi_{a:63}"),
    r("infracost-api-token", "Infracost API key", &["ico-"],
      r"\b(ico-[A-Za-z0-9]{32})\b", "«ico-{x:32}»", "ico-{x:31}"),
    r("harness-api-key", "Harness API key", &["pat.", "sat."],
      r"\b((?:pat|sat)\.[\w-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20})\b", "«pat.{u:22}.{h:24}.{x:20}»", "pat.{u:22}.{h:24}.{x:19}"),
    r("octopus-deploy-api-key", "Octopus Deploy API key", &["api-"],
      r"\b(API-[A-Z0-9]{26})\b", "OCTOPUS_API_KEY=«API-{A:26}»", "OCTOPUS_API_KEY=API-{A:25}"),
    r("settlemint-personal-access-token", "SettleMint token", &["sm_pat_", "sm_aat_", "sm_sat_"],
      r"\b(sm_[pas]at_[a-zA-Z0-9]{16})\b", "«sm_pat_{x:16}»", "sm_pat_{x:15}"),
    r("scalingo-api-token", "Scalingo API token", &["tk-us-"],
      r"\b(tk-us-[\w-]{48})(?:[^\w-]|$)", "«tk-us-{u:48}»", "tk-us-{u:47}"),
    r("clickhouse-cloud-api-secret-key", "ClickHouse Cloud API secret key", &["4b1d"],
      r"\b(4b1d[A-Za-z0-9]{38})\b", "CLICKHOUSE_SECRET=«4b1d{x:38}»", "CLICKHOUSE_SECRET=4b1d{x:37}"),
    r("defined-networking-api-token", "Defined Networking API token", &["dnkey-"],
      r"\b(dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52})(?:[^\w=-]|$)", "«dnkey-{a:26}-{a:52}»", "dnkey-{a:26}-{a:40}"),
    r("firebase-cloud-messaging-key", "Firebase Cloud Messaging server key", &["apa91b"],
      r"\b(AAAA[\w-]{7}:APA91b[\w-]{134})(?:[^\w-]|$)", "«AAAA{u:7}:APA91b{u:134}»", "AAAA{u:7}:APA91b{u:100}"),
    r("intra42-client-secret", "Intra42 client secret", &["s-s4t2"],
      r"\b(s-s4t2(?:ud|af)-[a-f0-9]{64})\b", "«s-s4t2ud-{h:64}»", "s-s4t2ud-{h:63}"),
    r("posthog-personal-api-key", "PostHog personal API key", &["phx_"],
      r"\b(phx_[A-Za-z0-9]{43})\b", "«phx_{x:43}»", "phx_{x:42}"),
    r("figma-pat", "Figma personal access token", &["figd_"],
      r"\b(figd_[\w-]{40})(?:[^\w-]|$)", "«figd_{u:40}»", "figd_{u:39}"),
    r("zapier-webhook-url", "Zapier webhook URL", &["hooks.zapier.com"],
      r"(https://hooks\.zapier\.com/hooks/catch/\d+/[a-z0-9]+/?)", "«https://hooks.zapier.com/hooks/catch/{d:7}/{a:7}/»", "https://hooks.zapier.com/hooks/{d:7}"),
    a("pagerduty-api-key", "PagerDuty API key", &["pagerduty"],
      r"pagerduty[\w.-]{0,20}?(?:token|key)", r"u\+[\w+-]{18}|[\w+-]{20}",
      "PAGERDUTY_TOKEN=«u+{u:18}»", "PAGERDUTY_TOKEN=u+{u:10}").entropy(3.0),
    a("pusher-secret", "Pusher app secret", &["pusher"],
      r"pusher[\w.-]{0,20}?secret", "[a-f0-9]{20}",
      "PUSHER_APP_SECRET=«{h:20}»", "PUSHER_APP_SECRET={h:19}"),
    a("nexmo-api-secret", "Vonage (Nexmo) API secret", &["nexmo", "vonage"],
      r"(?:nexmo|vonage)[\w.-]{0,20}?secret", "[A-Za-z0-9]{16}",
      "VONAGE_API_SECRET=«{x:16}»", "VONAGE_API_SECRET={x:15}").entropy(3.0),
    a("messagebird-api-token", "MessageBird API key", &["messagebird", "message_bird", "message-bird"],
      r"message[_-]?bird[\w.-]{0,20}?(?:key|token)", "[A-Za-z0-9]{25}",
      "MESSAGEBIRD_API_KEY=«{x:25}»", "MESSAGEBIRD_API_KEY={x:24}").entropy(3.0),
    a("trello-api-token", "Trello token", &["trello"],
      r"trello[\w.-]{0,20}?(?:token|key|secret)", "[a-f0-9]{64}|[a-f0-9]{32}",
      "TRELLO_TOKEN=«{h:64}»", "TRELLO_TOKEN={h:63}"),
    a("jenkins-api-token", "Jenkins API token", &["jenkins"],
      r"jenkins[\w.-]{0,20}?(?:token|key)", "11[a-f0-9]{32}",
      "JENKINS_API_TOKEN=«11{h:32}»", "JENKINS_API_TOKEN=11{h:31}"),
    a("confluent-secret-key", "Confluent Cloud API secret", &["confluent"],
      r"confluent[\w.-]{0,20}?secret", "[A-Za-z0-9+/]{64}",
      "CONFLUENT_CLOUD_API_SECRET=«{x:64}»", "CONFLUENT_CLOUD_API_SECRET={x:63}").entropy(3.5),
    a("etherscan-api-key", "Etherscan API key", &["etherscan"],
      r"etherscan[\w.-]{0,20}?key", "[A-Z0-9]{34}",
      "ETHERSCAN_API_KEY=«{A:34}»", "ETHERSCAN_API_KEY={A:33}").entropy(3.0),
    a("sumologic-access-token", "Sumo Logic access key", &["sumo"],
      r"sumo[\w.-]{0,20}?(?:key|token|secret)", "[A-Za-z0-9]{64}",
      "SUMO_ACCESS_KEY=«{x:64}»", "SUMO_ACCESS_KEY={x:63}").entropy(3.5),
    a("beamer-api-token", "Beamer API key", &["beamer"],
      r"beamer[\w.-]{0,20}?(?:key|token)", r"b_[\w=-]{44}",
      "BEAMER_API_KEY=«b_{u:44}»", "BEAMER_API_KEY=b_{u:43}"),
    a("kraken-access-token", "Kraken API secret", &["kraken"],
      r"kraken[\w.-]{0,20}?(?:secret|key)", r"[A-Za-z0-9/+=]{80,90}",
      "KRAKEN_API_SECRET=«{b:88}»", "KRAKEN_API_SECRET={b:60}").entropy(4.0),

    // ------------------------------------------------ keys, tokens, passwords
    r("private-key", "Private key (PEM / OpenSSH / PGP)", &["private key"],
      r"(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\x22',\\/#*!;rnt]*(?:[A-Za-z0-9-]+:[^\n]*\n[\s\x22',\\/#*!;rnt]*)*[A-Za-z0-9+/=]{40,}[A-Za-z0-9+/=\s\x22',\\#*!;:.-]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)",
      "«-----BEGIN RSA PRIVATE KEY-----\n{b:64}\n{b:64}\n{b:20}==\n-----END RSA PRIVATE KEY-----»",
      "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----").multiline(),
    r("putty-private-key", "PuTTY private key", &["putty-user-key-file-"],
      r"(PuTTY-User-Key-File-[23]: [^\n]+\n(?:[^\n]*\n){1,12}?Private-Lines: \d+\n[A-Za-z0-9+/=\n]{40,})",
      "«PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 2\n{b:64}\n{b:20}\nPrivate-Lines: 1\n{b:48}»",
      "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none").multiline(),
    r("jwt", "JSON Web Token", &["eyj"],
      r"\b(ey[A-Za-z0-9_-]{15,}\.ey[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_-]{10,}={0,2})(?:[^\w.=-]|$)",
      "Authorization: Bearer «eyJhbGciOiJIUzI1NiJ9.eyJ{u:40}.{u:43}»", "eyJhbGciOiJIUzI1NiJ9.eyJ{u:40}"),
    r("url-password", "Password embedded in a URL", &["://"],
      r"\b(?:[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\x22]{1,64}:([^\s:/@'\x22`<>]{3,128})@[A-Za-z0-9.-]+)",
      "DATABASE_URL=postgres://app:«{x:20}»@db.internal:5432/app", "DATABASE_URL=postgres://app@db.internal:5432/app"),
    r("curl-auth-user", "Credentials passed to curl -u", &["curl"],
      r"\bcurl\b[^\n]*?\s(?:-u|--user)\s*['\x22]?[^\s'\x22:]+:([^\s'\x22]{6,})",
      "curl -s -u admin:«{x:20}» https://example.test/api", "curl -s -u admin https://example.test/api").entropy(2.5),
    r("curl-auth-header", "Authorization header passed to curl", &["curl"],
      r"(?i)\bcurl\b[^\n]*?(?:-H|--header)\s*['\x22]?Authorization:\s*(?:Bearer|Basic|Token)\s+([\w.~+/=-]{16,})",
      "curl -H 'Authorization: Bearer «{x:40}»' https://example.test", "curl -H 'Authorization: Bearer $TOKEN' https://example.test").entropy(3.0),
    r("authorization-header", "Authorization header with a credential", &["authorization"],
      r"(?i)\bauthorization['\x22]?\s*[:=]\s*['\x22]?(?:bearer|basic|token)\s+([\w.~+/-]{20,}=*)",
      "headers: {\"Authorization\": \"Bearer «{x:40}»\"}", "headers: {\"Authorization\": \"Bearer ${TOKEN}\"}").entropy(3.5),
    r("htpasswd-hash", "Apache htpasswd MD5 hash", &["$apr1$"],
      r"(?m)^[\w.-]+:(\$apr1\$[./A-Za-z0-9]{8}\$[./A-Za-z0-9]{22})$", "admin:«$apr1${x:8}${x:22}»", "admin:$apr1${x:8}${x:20}"),
    r("django-secret-key", "Django insecure secret key", &["django-insecure-"],
      r"(django-insecure-[^\s'\x22]{40,})", "SECRET_KEY = '«django-insecure-{x:50}»'", "SECRET_KEY = 'django-insecure-{x:20}'"),
    r("rails-secret-key-base", "Rails secret_key_base", &["secret_key_base"],
      r"(?i)secret_key_base['\x22]?\s*[:=]\s*['\x22]?([a-f0-9]{128})\b", "secret_key_base: «{h:128}»", "secret_key_base: {h:100}"),
    r("laravel-app-key", "Laravel APP_KEY", &["app_key"],
      r"\bAPP_KEY\s*=\s*['\x22]?(base64:[A-Za-z0-9+/]{43}=)", "APP_KEY=«base64:{b:43}=»", "APP_KEY=base64:{b:20}="),
    r("sidekiq-secret", "Sidekiq Enterprise credentials", &["contribsys"],
      r"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM\s*[:=]\s*['\x22]?([a-f0-9]{8}:[a-f0-9]{8})\b",
      "BUNDLE_ENTERPRISE__CONTRIBSYS__COM=«{h:8}:{h:8}»", "BUNDLE_ENTERPRISE__CONTRIBSYS__COM={h:8}"),
    r("kubeconfig-client-key", "Kubernetes client key data", &["client-key-data"],
      r"client-key-data:\s*['\x22]?([A-Za-z0-9+/]{100,}={0,2})", "    client-key-data: «{b:200}»", "    client-key-data: {b:40}"),
    r("kubernetes-secret-yaml", "Kubernetes Secret data value", &["kind: secret"],
      r"(?s)kind:\s*Secret\b.{0,300}?\bdata:\s*\n\s+[\w.-]+:\s*([A-Za-z0-9+/]{16,}={0,2})",
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  password: «{b:32}»", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n").multiline().entropy(3.0),
    r("pkcs12-file", "PKCS#12 key store file", &[], "",
      "certs/server.p12", "certs/server.p12.txt").path(r"(?i)\.(?:p12|pfx)$"),
    r("ssh-password-sshpass", "Password passed to sshpass", &["sshpass"],
      r"\bsshpass\s+-p\s*['\x22]?([^\s'\x22]{6,})", "sshpass -p «{x:16}» ssh host", "sshpass -f file ssh host").entropy(2.5),
    r("mysql-cli-password", "Password on a mysql/psql command line", &["mysql", "mysqldump"],
      r"\bmysql(?:dump|admin)?\b[^\n]*?\s(?:-p|--password=)([^\s'\x22-][^\s'\x22]{5,})",
      "mysql -u root -p«{x:16}» db", "mysql -u root -p db").entropy(2.5),
    r("ethereum-private-key", "Ethereum private key assignment", &["private"],
      r"(?i)private[_-]?key['\x22]?\s*[:=]\s*['\x22]?(0x[a-f0-9]{64})\b", "PRIVATE_KEY=«0x{h:64}»", "PRIVATE_KEY=0x{h:63}"),
    r("generic-api-key", "Generic secret assignment (high entropy)", &["key", "secret", "token", "passw", "pwd", "credential", "auth"],
      r#"(?i)(?:key|secret|token|passw(?:or)?d|pwd|credentials?|auth)[\w.-]{0,20}?['"]?\s{0,5}(?::=|=>|=|:)\s{0,5}['"]?([\w.=+/~@#%^*!-]{12,150})(?:['"\s;,)]|$)"#,
      "MY_SERVICE_SECRET = \"«{x:32}»\"", "MY_SERVICE_SECRET = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"").entropy(3.5),
];

/// Suffix of the id of a fragment rule (`github-pat-fragment`).
pub(crate) const FRAGMENT_SUFFIX: &str = "-fragment";

/// A prefix-anchored token format, as its true-positive template spells it:
/// a literal vendor prefix, then a run of one character class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The vendor prefix (`ghp_`, `AKIA`).
    pub prefix: String,
    /// Regex class of the characters after it.
    pub class: &'static str,
    /// Template class letter of those characters (see [`BuiltinRule::sample`]).
    pub class_letter: char,
    /// Length of that run in a whole token.
    pub full: usize,
    /// Token characters after the prefix that make a fragment distinctive.
    pub min: usize,
    /// The prefix is letters and digits only, so it must start a word.
    pub boundary: bool,
}

impl Fragment {
    fn regex(&self) -> String {
        let lead = if self.boundary {
            r"(?:^|[^A-Za-z0-9+/_-])"
        } else {
            ""
        };
        format!(
            "{lead}({}{}{{{},}})",
            regex::escape(&self.prefix),
            self.class,
            self.min
        )
    }
}

/// A token glued to other text (`blob=xyzghp_…`) has no word boundary
/// before it: when the rule's token starts with a vendor prefix that holds a
/// separator (`ghp_`, `glpat-`, `xoxb-`), the prefix itself is the boundary,
/// so a leading `\b` before it is dropped. Letters-only prefixes (`AKIA`)
/// keep theirs: inside a word they are just letters.
fn unglued(rule: &BuiltinRule, regex: String) -> String {
    match fragment_of(rule) {
        Some(f) if !f.boundary && regex.starts_with(&format!(r"\b({}", f.prefix)) => {
            regex[2..].to_string()
        }
        _ => regex,
    }
}

/// What a fragment is not: a body after the prefix without a digit that is
/// one case of letters, or words joined by `_`/`-` (`napi_property`,
/// `live_session_count`: identifiers in real code). A real token's run of
/// 8+ random characters almost always holds a digit or both cases.
///
/// After a prefix in lower case (`ghp_`, `xoxb-`), a body of capitals alone
/// is a fragment: identifiers do not switch case that way, and it is how a
/// made-up or split key looks (`ghp_ABCDEFGHIJKLMN`). After a prefix with
/// capitals (`AKIA`, `SG.`) such a body is ordinary text.
fn fragment_shape(f: &Fragment) -> AllowDef {
    let p = regex::escape(&f.prefix);
    let mut regexes = vec![format!("{p}[a-z]*$"), format!("{p}[^0-9]*[_-][^0-9]*$")];
    if f.prefix.bytes().any(|b| b.is_ascii_uppercase()) {
        regexes.push(format!("{p}[A-Z]*$"));
    }
    AllowDef {
        and: false,
        commits: vec![],
        paths: vec![],
        target: RegexTarget::Secret,
        regexes,
        stopwords: vec![],
        target_rules: vec![],
        dialect: Dialect::Builtin,
        kind: AllowKind::Shape,
    }
}

fn class_regex(c: char) -> Option<&'static str> {
    Some(match c {
        'a' => "[a-z0-9]",
        'A' => "[A-Z0-9]",
        'x' => "[A-Za-z0-9]",
        'h' => "[0-9a-f]",
        'H' => "[0-9A-F]",
        'd' => "[0-9]",
        'l' => "[a-z]",
        'U' => "[A-Z]",
        'L' => "[A-Za-z]",
        'b' => "[A-Za-z0-9+/]",
        'u' => "[A-Za-z0-9_-]",
        'B' => "[A-Z2-7]",
        'v' => "[a-z2-7]",
        'C' => "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]",
        _ => return None,
    })
}

/// The fragment form of a rule, when its token is prefix-anchored: the
/// sample's secret starts with a literal prefix that has a separator (`_`,
/// `-`, `.`) and at least 4 characters, or is 4+ capital letters (`AKIA`,
/// which must then start a word), followed by a class run. The egress
/// profile reports the prefix plus `min` class characters (12 after a
/// prefix of 4 characters with a separator such as `ghp_`, 8 otherwise;
/// always fewer than a whole token's) as a fragment.
pub fn fragment_of(rule: &BuiltinRule) -> Option<Fragment> {
    if rule.path.is_some() || rule.multiline {
        return None;
    }
    let start = rule.sample.find('«')? + '«'.len_utf8();
    let rest = &rule.sample[start..];
    let brace = rest.find('{')?;
    let prefix = &rest[..brace];
    if prefix.contains('»') {
        return None;
    }
    let spec = &rest[brace + 1..];
    let close = spec.find('}')?;
    let (c, n) = spec[..close].split_once(':')?;
    let mut cs = c.chars();
    let (letter, None) = (cs.next()?, cs.next()) else {
        return None;
    };
    // A run of one case of letters reads as a word, not a token.
    if matches!(letter, 'l' | 'U') {
        return None;
    }
    let class = class_regex(letter)?;
    let full: usize = n.parse().ok()?;
    let sep = prefix.bytes().any(|b| matches!(b, b'_' | b'-' | b'.'));
    let caps = prefix.len() >= 4 && prefix.bytes().all(|b| b.is_ascii_uppercase());
    if !prefix.is_ascii() || !((sep && prefix.len() >= 4) || caps) {
        return None;
    }
    // Not distinctive on its own: a prefix of one repeated character
    // (`AAAA`, which every base64 run of zero bytes holds) or one ending in
    // a dot (`pat.`, member access in code).
    let mut letters = prefix.bytes().filter(u8::is_ascii_alphanumeric);
    let first = letters.next();
    if prefix.ends_with('.') || letters.all(|b| Some(b) == first) {
        return None;
    }
    let want = if caps || prefix.len() > 4 { 8 } else { 12 };
    if full <= 4 {
        return None;
    }
    let min = want.min(full - 1).max(4);
    Some(Fragment {
        prefix: prefix.to_string(),
        class,
        class_letter: letter,
        full,
        min,
        boundary: !sep,
    })
}

/// Suffix of the id of a variant rule (`stripe-access-token-variant`).
pub(crate) const VARIANT_SUFFIX: &str = "-variant";

/// Prefixes of a rule's tokens besides those its sample and keywords give:
/// spellings that test keys, fakes and other vendors' SDKs use for the
/// same shape (`sk-test-…`), and short prefixes that are no fragment of
/// their own (`SG.`, member access in code), for the variant rules.
const EXTRA_PREFIXES: &[(&str, &[&str])] = &[
    (
        "stripe-access-token",
        &["sk-test-", "sk-live-", "rk-test-", "rk-live-"],
    ),
    ("sendgrid-api-token", &["SG."]),
];

/// The egress profile's looser reading of a prefix-anchored token: its
/// vendor prefix, or a sibling prefix of the same rule (test, sandbox and
/// restricted keys: `sk_test_`, `rk_live_`, `ASIA`), followed by a body of
/// the wrong length or a wider alphabet than the vendor's (`AKIA` + 19
/// capitals and digits, `sk_live_FAKE_TEST_KEY_000…`, a SendGrid key whose
/// two parts have other lengths). Shapes a real key and the fakes an agent
/// makes up share; the vendor's exact shape stays the rule's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The prefixes, the rule's own first.
    pub prefixes: Vec<String>,
    /// The prefixes are capitals only (`AKIA`): the body is capitals and
    /// digits, at least 12 of them; else the body is up to six short words
    /// joined by `_`/`-` and a run of at least 10 letters and digits.
    pub caps: bool,
}

impl Variant {
    fn alts(&self) -> String {
        let alts: Vec<String> = self.prefixes.iter().map(|p| regex::escape(p)).collect();
        alts.join("|")
    }

    fn regex(&self) -> String {
        let alts = self.alts();
        if self.caps {
            format!(r"(?:^|[^A-Za-z0-9+/_-])((?:{alts})[A-Z0-9]{{12,}})")
        } else {
            format!(
                r"(?:^|[^A-Za-z0-9_-])((?:{alts})(?:[A-Za-z0-9]{{1,32}}[_-]){{0,6}}[A-Za-z0-9]{{10,}})"
            )
        }
    }

    /// What a variant is not: a body without a digit (identifiers, words,
    /// `SG.ComponentFactory`), or one whose last run holds one digit and one
    /// case of letters (`sk-test-results-directory2`, `webpack5`). A real
    /// token's run of 10+ random characters has both cases or more digits.
    fn shape(&self) -> AllowDef {
        let alts = self.alts();
        AllowDef {
            and: false,
            commits: vec![],
            paths: vec![],
            target: RegexTarget::Secret,
            regexes: vec![
                format!("^(?:{alts})[^0-9]*$"),
                format!("^(?:{alts})(?:[A-Za-z0-9]*[_-])*(?:[a-z]*[0-9][a-z]*|[A-Z]*[0-9][A-Z]*)$"),
            ],
            stopwords: vec![],
            target_rules: vec![],
            dialect: Dialect::Builtin,
            kind: AllowKind::Shape,
        }
    }
}

/// The literal prefix of a rule's sample secret (before its first `{`).
fn sample_prefix(rule: &BuiltinRule) -> Option<&'static str> {
    let start = rule.sample.find('«')? + '«'.len_utf8();
    let rest = &rule.sample[start..];
    let prefix = &rest[..rest.find('{')?];
    (!prefix.contains('»') && prefix.is_ascii()).then_some(prefix)
}

/// The variant form of a rule (see [`Variant`]): every rule with a
/// fragment, with sibling prefixes from its keywords (same shape as the
/// sample's prefix: capitals of the same length, or lowercase ending in the
/// same separator), and a short list of extra prefixes (`sk-test-`, `SG.`).
pub fn variant_of(rule: &BuiltinRule) -> Option<Variant> {
    let extra = EXTRA_PREFIXES
        .iter()
        .find(|(id, _)| *id == rule.id)
        .map(|(_, p)| *p);
    let own = match fragment_of(rule) {
        Some(f) => f.prefix,
        None => {
            extra?;
            if rule.path.is_some() || rule.multiline {
                return None;
            }
            sample_prefix(rule)?.to_string()
        }
    };
    let caps = own.bytes().all(|b| b.is_ascii_uppercase());
    let mut prefixes = vec![own.clone()];
    let lower = own
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    let last = own.as_bytes()[own.len() - 1];
    for k in rule.keywords {
        let sibling = if caps {
            (k.len() == own.len() && k.bytes().all(|b| b.is_ascii_lowercase()))
                .then(|| k.to_ascii_uppercase())
        } else {
            (lower
                && matches!(last, b'_' | b'-')
                && k.len() >= 4
                && k.as_bytes()[k.len() - 1] == last
                && k.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-')
                }))
            .then(|| k.to_string())
        };
        if let Some(s) = sibling
            && !prefixes.iter().any(|p| p.eq_ignore_ascii_case(&s))
        {
            prefixes.push(s);
        }
    }
    for p in extra.unwrap_or(&[]) {
        if !prefixes.iter().any(|q| q == p) {
            prefixes.push(p.to_string());
        }
    }
    Some(Variant { prefixes, caps })
}

/// Egress-only rules for key material cut short, which no whole-token rule
/// sees: a PEM private key whose body is truncated (no `END` line), or
/// escaped into a JSON string, and a Google Cloud service-account key file
/// (its `private_key_id`, of any length, or the `service_account` marker
/// with a `private_key` that starts a PEM key). Ids end in `-fragment`, so
/// disabling `private-key` / `gcp-service-account-key` disables them.
fn key_material_fragments() -> Vec<RuleDef> {
    let pem_body = r"(?:\\[nrt]|[\s\x22',])*(?:[A-Za-z0-9-]+:[^\n]*\n\s*)*";
    let private_key = RuleDef {
        line_local: false,
        ..egress_rule(
            format!("private-key{FRAGMENT_SUFFIX}"),
            "fragment of a private key (PEM / OpenSSH / PGP)".into(),
            format!(
                r"(-----BEGIN[ A-Z0-9_-]{{0,100}}PRIVATE KEY(?: BLOCK)?-----{pem_body}[A-Za-z0-9+/]{{40,}})"
            ),
            vec!["private key".into()],
            vec![],
        )
    };
    let begin = r#""private_key"\s*:\s*"\s*-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY-----(?:\\[nrt]|\s)*[A-Za-z0-9+/]{8,}"#;
    let marker = r#""type"\s*:\s*"service_account""#;
    let gcp = RuleDef {
        line_local: false,
        ..egress_rule(
            format!("gcp-service-account-key{FRAGMENT_SUFFIX}"),
            "fragment of a Google Cloud service account key file".into(),
            format!(
                r#"(?s)("private_key_id"\s*:\s*"[0-9a-fA-F]{{16,}}|{marker}.{{0,2048}}?{begin}|{begin}.{{0,2048}}?{marker})"#
            ),
            vec!["private_key_id".into(), "service_account".into()],
            vec![],
        )
    };
    // An AWS secret access key sent encoded and alone (hex or base64 of the
    // 40 characters, no `aws_secret…` name): in plain text a bare 40-char
    // base64 run is everyday data, but below a content layer it is bytes
    // the agent chose to hide. Decoded views only; both cases and a digit.
    let aws_secret = RuleDef {
        entropy: 4.0,
        line_local: false,
        decoded_only: true,
        ..egress_rule(
            format!("aws-secret-access-key{VARIANT_SUFFIX}"),
            "AWS secret access key shape in decoded data".into(),
            // Not a line inside a block of base64 lines (the last line of
            // a PEM certificate in a decoded kubeconfig can be 40 long).
            r"(?:\A|[^A-Za-z0-9+/=\n]|(?:\A|[^A-Za-z0-9+/=])\n)([A-Za-z0-9+/]{40})(?:[^A-Za-z0-9+/=]|\z)".into(),
            vec![],
            vec![AllowDef {
            and: false,
            commits: vec![],
            paths: vec![],
            target: RegexTarget::Secret,
            regexes: vec!["^[^0-9]*$".into(), "^[^A-Z]*$".into(), "^[^a-z]*$".into()],
            stopwords: vec![],
            target_rules: vec![],
            dialect: Dialect::Builtin,
            kind: AllowKind::Shape,
        }],
        )
    };
    vec![private_key, gcp, aws_secret]
}

/// A built-in rule of the egress profile only: its secret is the whole
/// match, no entropy floor, line-local, in every view (callers change what
/// differs with struct update syntax).
fn egress_rule(
    id: String,
    description: String,
    regex: String,
    keywords: Vec<String>,
    allowlists: Vec<AllowDef>,
) -> RuleDef {
    RuleDef {
        id,
        description,
        regex: Some((regex, Dialect::Builtin)),
        secret_group: 0,
        entropy: 0.0,
        keywords,
        path: None,
        allowlists,
        line_local: true,
        builtin: true,
        egress_only: true,
        decoded_only: false,
    }
}

const UUID: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/// The built-in rules and global allowlists as an uncompiled config (the
/// base of `[extend] useDefault`).
pub(crate) fn builtin_def() -> ConfigDef {
    let mut rules = Vec::with_capacity(RULES.len());
    for b in RULES {
        let mut allowlists = Vec::new();
        if b.id == "generic-api-key" {
            allowlists.push(AllowDef {
                and: false,
                commits: vec![],
                paths: vec![],
                target: RegexTarget::Secret,
                regexes: vec![
                    // No digit: identifiers, words, function names.
                    "^[^0-9]*$".into(),
                    format!("^(?i:{UUID})$"),
                    // Dotted identifiers (`settings.API_KEY_V2`).
                    r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$".into(),
                    // Bare version strings are not secrets.
                    r"^v?\d+(?:\.\d+)+(?:[-+][\w.]+)?$".into(),
                    // Identifiers: SCREAMING_SNAKE, snake_case, CamelCase
                    // made of words (`X509EnrollmentAuthFlags`), as in type
                    // annotations and constant names.
                    r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$".into(),
                    r"^_*[a-z][a-z0-9]*(?:_+[a-z0-9]+)+$".into(),
                    r"^_*[A-Za-z][A-Za-z0-9]{0,9}(?:_+[A-Za-z0-9]{1,10}){2,}$".into(),
                    r"^[A-Z0-9]*(?:[A-Z][a-z]{2,}[0-9]*){2,}$".into(),
                    r"^[a-z]{2,}[0-9]*(?:[A-Z][a-z]{2,}[0-9]*)+$".into(),
                    // Field access ending in numbers (`authority_count.0`).
                    r"^_*[a-z][a-z0-9]*(?:_[a-z0-9]+)*(?:\.[a-z0-9_]+)+$".into(),
                    // Documentation values: lowercase words, each with at
                    // most one digit after it (`value2#fragid1`).
                    r"^(?:[a-z]{2,}[0-9]?[#._-]?){2,}$".into(),
                ],
                stopwords: vec![],
                target_rules: vec![],
                dialect: Dialect::Builtin,
                kind: AllowKind::Shape,
            });
            allowlists.push(AllowDef {
                and: false,
                commits: vec![],
                paths: vec![],
                target: RegexTarget::Match,
                regexes: vec![
                    r"(?i)(?:public|pub|primary|foreign|sort|partition|cache|idempotency)[_.-]?key"
                        .into(),
                ],
                stopwords: vec![],
                target_rules: vec![],
                dialect: Dialect::Builtin,
                kind: AllowKind::Shape,
            });
        }
        if b.id == "url-password" {
            allowlists.push(AllowDef {
                and: false,
                commits: vec![],
                paths: vec![],
                target: RegexTarget::Secret,
                regexes: vec![
                    // Template variables (their names can carry data: code
                    // profile only).
                    r"(?i)^(?:<[^>]+>|\$\{[^}]+\}|\$[A-Z_][A-Z0-9_]*|%\([^)]*\)s|%[A-Z_]+%|\{\{[^}]+\}\})$".into(),
                ],
                stopwords: vec![],
                target_rules: vec![],
                dialect: Dialect::Builtin,
                kind: AllowKind::Placeholder,
            });
            allowlists.push(AllowDef {
                and: false,
                commits: vec![],
                paths: vec![],
                target: RegexTarget::Match,
                regexes: vec![
                    // A host reserved for documentation (RFC 2606, 6761):
                    // example.com/.net/.org and their subdomains, the
                    // names under `.example`, `.test`, `.invalid` and
                    // `.localhost`, `localhost`. The match ends with the
                    // host.
                    // The host is written by the agent too: code profile
                    // only.
                    r"(?i)@(?:(?:[a-z0-9-]+\.)*example\.(?:com|net|org)|(?:[a-z0-9-]+\.)+(?:example|test|invalid|localhost)|localhost)\.?$".into(),
                ],
                stopwords: vec![],
                target_rules: vec![],
                dialect: Dialect::Builtin,
                kind: AllowKind::Placeholder,
            });
            allowlists.push(AllowDef {
                and: false,
                commits: vec![],
                paths: vec![],
                target: RegexTarget::Secret,
                regexes: vec![
                    // Documentation words (`abc://username:password@`): a
                    // fixed list carries no data, so it holds in egress too.
                    r"(?i)^(?:pass(?:word)?|passwd|pwd|secret|changeme|x{3,}|\*+|user(?:name)?|test|example|foo|bar|baz|admin|root|guest|anonymous|dummy|p@ssw0rd|123456|opensesame)$".into(),
                ],
                stopwords: vec![],
                target_rules: vec![],
                dialect: Dialect::Builtin,
                kind: AllowKind::Shape,
            });
        }
        rules.push(RuleDef {
            id: b.id.to_string(),
            description: b.description.to_string(),
            regex: b.regex().map(|r| (unglued(b, r), Dialect::Builtin)),
            secret_group: 0,
            entropy: b.entropy,
            keywords: b.keywords.iter().map(|k| k.to_string()).collect(),
            path: b.path.map(|p| (p.to_string(), Dialect::Builtin)),
            allowlists,
            line_local: !b.multiline,
            builtin: true,
            egress_only: false,
            decoded_only: false,
        });
        if let Some(f) = fragment_of(b) {
            rules.push(egress_rule(
                format!("{}{FRAGMENT_SUFFIX}", b.id),
                format!("fragment of a {}", b.description),
                f.regex(),
                vec![f.prefix.to_ascii_lowercase()],
                vec![fragment_shape(&f)],
            ));
        }
        if let Some(v) = variant_of(b) {
            rules.push(egress_rule(
                format!("{}{VARIANT_SUFFIX}", b.id),
                format!("variant of a {}", b.description),
                v.regex(),
                v.prefixes.iter().map(|p| p.to_ascii_lowercase()).collect(),
                vec![v.shape()],
            ));
        }
    }
    rules.extend(key_material_fragments());
    let placeholders = AllowDef {
        and: false,
        commits: vec![],
        paths: vec![],
        target: RegexTarget::Secret,
        regexes: vec![
            // Template placeholders and obvious dummies, never secrets.
            r"(?i)^(?:x{6,}|\*{4,}|\.{4,}|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|\$\([^)]*\))$".into(),
            r"(?i)(?:example|placeholder|changeme|change_me|redacted|dummy|your[_-]?(?:api[_-]?)?(?:key|token|secret|password))".into(),
        ],
        stopwords: vec![],
        target_rules: vec![],
        dialect: Dialect::Builtin,
        kind: AllowKind::Placeholder,
    };
    ConfigDef {
        rules,
        allowlists: vec![placeholders],
    }
}

pub(crate) fn compile_builtin() -> RuleSet {
    match compile_config(builtin_def()) {
        Ok(set) => set,
        // The built-in rules are tested to compile; an empty set here would
        // fail open, so there is no silent fallback either: panic loudly.
        #[allow(clippy::panic)]
        Err(e) => panic!("built-in rules do not compile: {e}"),
    }
}

/// A rendered template: the text, and the byte range of the expected secret.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The text.
    pub text: String,
    /// Where `«…»` was (the markers removed), if present.
    pub secret: Option<std::ops::Range<usize>>,
}

impl Rendered {
    /// The secret text, if the template marked one.
    pub fn secret_str(&self) -> Option<&str> {
        self.secret.clone().map(|r| &self.text[r])
    }
}

fn class_chars(c: char) -> Option<&'static [u8]> {
    Some(match c {
        'a' => b"abcdefghijklmnopqrstuvwxyz0123456789",
        'A' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        'x' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        'h' => b"0123456789abcdef",
        'H' => b"0123456789ABCDEF",
        'd' => b"0123456789",
        'l' => b"abcdefghijklmnopqrstuvwxyz",
        'U' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        'L' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        'b' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        'u' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        'B' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        'v' => b"abcdefghijklmnopqrstuvwxyz234567",
        'C' => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
        _ => return None,
    })
}

/// The characters of a template class, digits first (so an obvious
/// sequence over them has digits and letters, as many rules require).
fn placeholder_chars(c: char) -> &'static str {
    match c {
        'a' => "0123456789abcdefghijklmnopqrstuvwxyz",
        'A' => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        'x' => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        'h' => "0123456789abcdef",
        'H' => "0123456789ABCDEF",
        'd' => "0123456789",
        'l' => "abcdefghijklmnopqrstuvwxyz",
        'U' => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        'L' => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        'b' => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/",
        'u' => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-",
        'B' => "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        'v' => "234567abcdefghijklmnopqrstuvwxyz",
        'C' => "0234566789ACDEFGHJKLMNPQRSTUVWXYZ",
        _ => "",
    }
}

/// Kinds of placeholder bodies for a template's secret (see
/// [`render_placeholder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderKind {
    /// An obvious sequence over the class (`0123456789abcdef…`).
    Sequence,
    /// `x` (or `X`) repeated.
    Xs,
    /// One character repeated.
    Repeated,
    /// A random body with `EXAMPLE` in it (as AWS's documentation keys).
    Example,
}

impl PlaceholderKind {
    /// Every kind.
    pub const ALL: [PlaceholderKind; 4] = [
        PlaceholderKind::Sequence,
        PlaceholderKind::Xs,
        PlaceholderKind::Repeated,
        PlaceholderKind::Example,
    ];
}

/// Render a sample template (see [`BuiltinRule::sample`]) with the `{c:N}`
/// runs inside `«…»` replaced by a placeholder body of `kind` (outside the
/// secret: random as usual). `None` when the kind does not apply to the
/// template's classes. For tests and benchmarks of the profiles.
pub fn render_placeholder(
    template: &str,
    kind: PlaceholderKind,
    rng: &mut SampleRng,
) -> Option<String> {
    use PlaceholderKind as Kind;
    let mut out = String::new();
    let mut in_secret = false;
    let mut rest = template;
    let mut changed = false;
    while let Some(ch) = rest.chars().next() {
        if ch == '«' || ch == '»' {
            in_secret = ch == '«';
            rest = &rest[ch.len_utf8()..];
            continue;
        }
        if ch == '{'
            && let Some(close) = rest.find('}')
            && let Some((c, n)) = rest[1..close].split_once(':')
            && let (Some(cc), Ok(n)) = (c.chars().next(), n.parse::<usize>())
            && c.len() == 1
            && !placeholder_chars(cc).is_empty()
        {
            let chars = placeholder_chars(cc);
            if !in_secret {
                out.push_str(&render_template(&rest[..=close], rng).text);
            } else {
                changed = true;
                match kind {
                    Kind::Sequence => out.extend(chars.chars().cycle().take(n)),
                    Kind::Xs => {
                        let x = if chars.contains('x') {
                            'x'
                        } else if chars.contains('X') {
                            'X'
                        } else {
                            return None;
                        };
                        out.extend(std::iter::repeat_n(x, n));
                    }
                    Kind::Repeated => {
                        let c = chars.chars().nth(chars.len() / 2)?;
                        out.extend(std::iter::repeat_n(c, n));
                    }
                    Kind::Example => {
                        if n < 12 || !chars.contains('E') {
                            return None;
                        }
                        let body = render_template(&format!("{{{cc}:{}}}", n - 7), rng).text;
                        out.push_str(&body);
                        out.push_str("EXAMPLE");
                    }
                }
            }
            rest = &rest[close + 1..];
            continue;
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    changed.then_some(out)
}

/// A small deterministic generator (splitmix64) for test and benchmark data.
#[derive(Debug, Clone)]
pub struct SampleRng(u64);

impl SampleRng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// `n` characters from `chars`; for mixed alphabets at least one digit
    /// and one letter, so entropy and "contains a digit" checks hold.
    pub fn string(&mut self, chars: &[u8], n: usize) -> String {
        let mut v: Vec<u8> = (0..n).map(|_| chars[self.below(chars.len())]).collect();
        let has_digit = chars.iter().any(u8::is_ascii_digit);
        let has_alpha = chars.iter().any(u8::is_ascii_alphabetic);
        if has_digit && has_alpha && n >= 8 {
            if !v.iter().any(u8::is_ascii_digit) {
                let i = self.below(n);
                v[i] = b'0' + self.below(10) as u8;
            }
            if !v.iter().any(u8::is_ascii_alphabetic) {
                let i = self.below(n);
                v[i] = loop {
                    let c = chars[self.below(chars.len())];
                    if c.is_ascii_alphabetic() {
                        break c;
                    }
                };
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// Expand a sample template (see [`BuiltinRule::sample`]): `{c:N}` becomes
/// N random characters of class `c`, `«…»` marks the secret; any other
/// brace text is literal.
pub fn render_template(template: &str, rng: &mut SampleRng) -> Rendered {
    let mut text = String::with_capacity(template.len() * 2);
    let mut start = None;
    let mut end = None;
    let mut rest = template;
    while let Some(ch) = rest.chars().next() {
        match ch {
            '«' => start = Some(text.len()),
            '»' => end = Some(text.len()),
            '{' => {
                if let Some(close) = rest.find('}') {
                    let inner = &rest[1..close];
                    if let Some((c, n)) = inner.split_once(':') {
                        let mut cs = c.chars();
                        if let (Some(cc), None, Ok(n)) = (cs.next(), cs.next(), n.parse::<usize>())
                            && let Some(chars) = class_chars(cc)
                        {
                            text.push_str(&rng.string(chars, n));
                            rest = &rest[close + 1..];
                            continue;
                        }
                    }
                }
                text.push('{');
            }
            c => text.push(c),
        }
        rest = &rest[ch.len_utf8()..];
    }
    Rendered {
        text,
        secret: start.zip(end).map(|(s, e)| s..e),
    }
}
