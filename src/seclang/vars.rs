//! The variables (collections) rules read, and macros (`%{TX.score}`)
//! expanded from them.

/// A ModSecurity variable. Request variables only: the engine runs the
/// request phases (1 and 2); rules of the response phases are loaded and
/// checked but not run (a proxy streams responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    Args,
    ArgsNames,
    ArgsGet,
    ArgsGetNames,
    ArgsPost,
    ArgsPostNames,
    ArgsCombinedSize,
    RequestHeaders,
    RequestHeadersNames,
    RequestCookies,
    RequestCookiesNames,
    RequestMethod,
    RequestProtocol,
    RequestLine,
    RequestUri,
    RequestUriRaw,
    RequestFilename,
    RequestBasename,
    QueryString,
    RequestBody,
    RequestBodyLength,
    Xml,
    Files,
    FilesNames,
    FilesSizes,
    FilesCombinedSize,
    MultipartPartHeaders,
    MultipartStrictError,
    MultipartUnmatchedBoundary,
    MultipartFilename,
    MultipartName,
    ReqbodyError,
    ReqbodyErrorMsg,
    ReqbodyProcessor,
    Tx,
    Ip,
    Global,
    Session,
    User,
    Resource,
    Env,
    Geo,
    UniqueId,
    RemoteAddr,
    RemotePort,
    RemoteHost,
    ServerName,
    ServerPort,
    Duration,
    MatchedVar,
    MatchedVarName,
    MatchedVars,
    MatchedVarsNames,
    TimeEpoch,
    /// A response variable: rules that read one belong to a response phase.
    Response,
}

impl Var {
    pub fn by_name(name: &str) -> Option<Var> {
        use Var::*;
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "ARGS" => Args,
            "ARGS_NAMES" => ArgsNames,
            "ARGS_GET" => ArgsGet,
            "ARGS_GET_NAMES" => ArgsGetNames,
            "ARGS_POST" => ArgsPost,
            "ARGS_POST_NAMES" => ArgsPostNames,
            "ARGS_COMBINED_SIZE" => ArgsCombinedSize,
            "REQUEST_HEADERS" => RequestHeaders,
            "REQUEST_HEADERS_NAMES" => RequestHeadersNames,
            "REQUEST_COOKIES" => RequestCookies,
            "REQUEST_COOKIES_NAMES" => RequestCookiesNames,
            "REQUEST_METHOD" => RequestMethod,
            "REQUEST_PROTOCOL" => RequestProtocol,
            "REQUEST_LINE" => RequestLine,
            "REQUEST_URI" => RequestUri,
            "REQUEST_URI_RAW" => RequestUriRaw,
            "REQUEST_FILENAME" => RequestFilename,
            "REQUEST_BASENAME" => RequestBasename,
            "QUERY_STRING" => QueryString,
            "REQUEST_BODY" => RequestBody,
            "REQUEST_BODY_LENGTH" => RequestBodyLength,
            "XML" => Xml,
            "FILES" | "FILES_TMPNAMES" | "FILES_TMP_CONTENT" => Files,
            "FILES_NAMES" => FilesNames,
            "FILES_SIZES" => FilesSizes,
            "FILES_COMBINED_SIZE" => FilesCombinedSize,
            "MULTIPART_PART_HEADERS" => MultipartPartHeaders,
            "MULTIPART_STRICT_ERROR" => MultipartStrictError,
            "MULTIPART_UNMATCHED_BOUNDARY" => MultipartUnmatchedBoundary,
            "MULTIPART_FILENAME" => MultipartFilename,
            "MULTIPART_NAME" => MultipartName,
            "REQBODY_ERROR" | "REQBODY_PROCESSOR_ERROR" => ReqbodyError,
            "REQBODY_ERROR_MSG" | "REQBODY_PROCESSOR_ERROR_MSG" => ReqbodyErrorMsg,
            "REQBODY_PROCESSOR" => ReqbodyProcessor,
            "TX" => Tx,
            "IP" => Ip,
            "GLOBAL" => Global,
            "SESSION" => Session,
            "USER" => User,
            "RESOURCE" => Resource,
            "ENV" => Env,
            "GEO" => Geo,
            "UNIQUE_ID" => UniqueId,
            "REMOTE_ADDR" => RemoteAddr,
            "REMOTE_PORT" => RemotePort,
            "REMOTE_HOST" => RemoteHost,
            "SERVER_NAME" => ServerName,
            "SERVER_PORT" => ServerPort,
            "DURATION" => Duration,
            "MATCHED_VAR" => MatchedVar,
            "MATCHED_VAR_NAME" => MatchedVarName,
            "MATCHED_VARS" => MatchedVars,
            "MATCHED_VARS_NAMES" => MatchedVarsNames,
            "TIME_EPOCH" => TimeEpoch,
            n if n.starts_with("RESPONSE_") || n == "STATUS_LINE" || n == "OUTBOUND_DATA_ERROR" => {
                Response
            }
            _ => return None,
        })
    }

    /// A value of the request itself, the same for the whole request once
    /// the body is read (not TX, not a match, not a computed size).
    pub fn is_request_value(self) -> bool {
        use Var::*;
        matches!(
            self,
            Args | ArgsNames
                | ArgsGet
                | ArgsGetNames
                | ArgsPost
                | ArgsPostNames
                | RequestHeaders
                | RequestHeadersNames
                | RequestCookies
                | RequestCookiesNames
                | RequestMethod
                | RequestProtocol
                | RequestLine
                | RequestUri
                | RequestUriRaw
                | RequestFilename
                | RequestBasename
                | QueryString
                | RequestBody
                | Xml
                | Files
                | FilesNames
                | MultipartFilename
                | MultipartName
                | MultipartPartHeaders
                | UniqueId
                | RemoteAddr
                | RemoteHost
                | ServerName
        )
    }

    /// The name as ModSecurity prints it in MATCHED_VAR_NAME.
    pub fn name(self) -> &'static str {
        use Var::*;
        match self {
            Args => "ARGS",
            ArgsNames => "ARGS_NAMES",
            ArgsGet => "ARGS_GET",
            ArgsGetNames => "ARGS_GET_NAMES",
            ArgsPost => "ARGS_POST",
            ArgsPostNames => "ARGS_POST_NAMES",
            ArgsCombinedSize => "ARGS_COMBINED_SIZE",
            RequestHeaders => "REQUEST_HEADERS",
            RequestHeadersNames => "REQUEST_HEADERS_NAMES",
            RequestCookies => "REQUEST_COOKIES",
            RequestCookiesNames => "REQUEST_COOKIES_NAMES",
            RequestMethod => "REQUEST_METHOD",
            RequestProtocol => "REQUEST_PROTOCOL",
            RequestLine => "REQUEST_LINE",
            RequestUri => "REQUEST_URI",
            RequestUriRaw => "REQUEST_URI_RAW",
            RequestFilename => "REQUEST_FILENAME",
            RequestBasename => "REQUEST_BASENAME",
            QueryString => "QUERY_STRING",
            RequestBody => "REQUEST_BODY",
            RequestBodyLength => "REQUEST_BODY_LENGTH",
            Xml => "XML",
            Files => "FILES",
            FilesNames => "FILES_NAMES",
            FilesSizes => "FILES_SIZES",
            FilesCombinedSize => "FILES_COMBINED_SIZE",
            MultipartPartHeaders => "MULTIPART_PART_HEADERS",
            MultipartStrictError => "MULTIPART_STRICT_ERROR",
            MultipartUnmatchedBoundary => "MULTIPART_UNMATCHED_BOUNDARY",
            MultipartFilename => "MULTIPART_FILENAME",
            MultipartName => "MULTIPART_NAME",
            ReqbodyError => "REQBODY_ERROR",
            ReqbodyErrorMsg => "REQBODY_ERROR_MSG",
            ReqbodyProcessor => "REQBODY_PROCESSOR",
            Tx => "TX",
            Ip => "IP",
            Global => "GLOBAL",
            Session => "SESSION",
            User => "USER",
            Resource => "RESOURCE",
            Env => "ENV",
            Geo => "GEO",
            UniqueId => "UNIQUE_ID",
            RemoteAddr => "REMOTE_ADDR",
            RemotePort => "REMOTE_PORT",
            RemoteHost => "REMOTE_HOST",
            ServerName => "SERVER_NAME",
            ServerPort => "SERVER_PORT",
            Duration => "DURATION",
            MatchedVar => "MATCHED_VAR",
            MatchedVarName => "MATCHED_VAR_NAME",
            MatchedVars => "MATCHED_VARS",
            MatchedVarsNames => "MATCHED_VARS_NAMES",
            TimeEpoch => "TIME_EPOCH",
            Response => "RESPONSE",
        }
    }
}

/// Text with `%{VAR}` / `%{VAR.key}` parts, expanded per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Macro(pub Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A variable and its key (lowercase), or a rule property (`rule.id`).
    Var(Var, Option<String>),
    Rule(String),
}

impl Macro {
    pub fn parse(text: &str) -> Result<Macro, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("%{") {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_string()));
            }
            let Some(end) = rest[at..].find('}') else {
                return Err(format!("`%{{` without `}}` in `{text}`"));
            };
            let inner = &rest[at + 2..at + end];
            let (name, key) = match inner.split_once(['.', ':']) {
                Some((n, k)) => (n, Some(k.to_ascii_lowercase())),
                None => (inner, None),
            };
            if name.eq_ignore_ascii_case("rule") {
                parts.push(Part::Rule(key.unwrap_or_default()));
            } else {
                let var = Var::by_name(name)
                    .ok_or_else(|| format!("unknown variable `{name}` in `{text}`"))?;
                parts.push(Part::Var(var, key));
            }
            rest = &rest[at + end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Macro(parts))
    }

    /// The text, when there is nothing to expand.
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros() {
        let m = Macro::parse("+%{tx.critical_anomaly_score} at %{MATCHED_VAR_NAME}").unwrap();
        assert_eq!(
            m.0,
            [
                Part::Text("+".into()),
                Part::Var(Var::Tx, Some("critical_anomaly_score".into())),
                Part::Text(" at ".into()),
                Part::Var(Var::MatchedVarName, None),
            ]
        );
        assert_eq!(Macro::parse("plain").unwrap().literal(), Some("plain"));
        assert!(Macro::parse("%{NOPE}").is_err());
        assert_eq!(Var::by_name("request_headers"), Some(Var::RequestHeaders));
    }
}
