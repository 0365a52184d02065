"""The words of delivery failures: status codes, reply codes, and the wordings
mail systems use for each reason in ``mail_reasons``.

Pure text in, plain data out. ``mail_reasons.classify_reason`` combines what
these find into one reason; ``bounces`` also uses the helpers at the end that
read a notice's diagnostic lines, remote host and most specific status code.
"""

import re
from functools import cache

# Where in the SMTP conversation a reply came, as far as it is known.
CONNECT = "connect"  # greeting, EHLO/HELO, STARTTLS
MAIL = "mail"  # MAIL FROM (our envelope sender)
RCPT = "rcpt"
DATA = "data"  # the message itself, after it was sent

# --- status and reply codes ----------------------------------------------------

# RFC 3463 subjects run 0-7, which keeps version numbers such as
# "Exim 4.96.2" from passing for a status.
STATUS_PATTERN = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
REPLY_PATTERN = re.compile(r"(?<![\d.:/=-])([245][0-5]\d)(?=[ \t-]+\S|[ \t]*$|:)", re.M)


def find_status(text: str | None) -> str | None:
    """The first specific enhanced status code in a text, else the first."""
    found = [".".join(m.groups()) for m in STATUS_PATTERN.finditer(text or "")]
    for status in found:
        if not status.endswith(".0.0"):
            return status
    return found[0] if found else None


def find_reply_code(text: str | None) -> int | None:
    """The first SMTP reply code (4xx or 5xx) in a text."""
    for match in REPLY_PATTERN.finditer(text or ""):
        if match.group(1)[0] in "45":
            return int(match.group(1))
    return None


# Enhanced status codes that name their reason on their own.
_STATUS_REASONS = {
    "1.1": "user_unknown",
    "1.2": "host_unknown",
    "1.3": "user_unknown",
    "1.4": "filtered",
    "1.6": "has_moved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.10": "not_accept",
    "2.1": "suspended",
    "2.2": "mailbox_full",
    "2.3": "exceed_limit",
    "2.4": "filtered",
    "3.1": "system_error",
    "3.2": "not_accept",
    "3.3": "system_error",
    "3.4": "message_too_big",
    "3.5": "system_error",
    "4.1": "expired",
    "4.2": "network_error",
    "4.3": "system_error",
    "4.4": "host_unknown",
    "4.6": "network_error",
    "4.7": "expired",
    "5.3": "exceed_limit",
    "6.0": "content_error",
    "7.13": "suspended",
    "7.17": "has_moved",
    "7.18": "has_moved",
    "7.20": "auth_failure",
    "7.21": "auth_failure",
    "7.22": "auth_failure",
    "7.23": "auth_failure",
    "7.24": "auth_failure",
    "7.25": "require_ptr",
    "7.26": "auth_failure",
    "7.27": "not_accept",
    "7.28": "spam_detected",
    "7.29": "auth_failure",
}
# Codes whose words decide: "other", "not authorized", "mailbox disabled"
# (servers send 5.2.1 for unknown users too) and the like.
_WEAK_STATUS = {
    "1.0",
    "1.10",
    "2.0",
    "2.1",
    "3.0",
    "4.0",
    "4.1",
    "4.4",
    "5.0",
    "7.0",
    "7.1",
}
# What a subject says when neither the detail nor the words say more.
_SUBJECT_REASONS = {
    "2": "filtered",
    "3": "system_error",
    "4": "network_error",
    "5": "system_error",
    "6": "content_error",
    "7": "security_error",
}


def status_reason(status: str | None) -> tuple[str | None, bool]:
    """(reason, whether the status decides on its own) for a status code."""
    if not status:
        return None, False
    detail = status.split(".", 1)[1]
    reason = _STATUS_REASONS.get(detail)
    if status[0] == "4" and detail.startswith("7.") and reason is None:
        # A temporary security refusal: a block unless the words say more.
        return "blocked", False
    if status[0] == "4" and detail == "4.4":
        reason = "network_error"
    if reason is None:
        reason = _SUBJECT_REASONS.get(detail.split(".")[0])
        return reason, False
    return reason, detail not in _WEAK_STATUS


# Who a refusal may name; "{who}" in the words stands for it.
_WHO = "(mailbox|account|user|address|recipient|addressee|alias|person|local ?part)"


def _compile(words: str) -> re.Pattern:
    """One pattern from alternatives written over several lines."""
    lines = (line.strip() for line in words.strip().splitlines())
    return re.compile("|".join(lines).replace("{who}", _WHO))


# --- the words ---------------------------------------------------------------

# Per reason, the wordings mail systems use, as regular expressions over the
# lower-cased text with runs of white space made one space. Checked in this
# order, first match wins: specific causes before the generic refusals they are
# often wrapped in, and everything about the sender before the address words,
# so that "blocked ... recipient address rejected" never reads as a dead
# address.
_WORDS: list[tuple[str, str]] = [
    (
        "mailbox_full",
        r"""
        mailbox (is )?full|mailbox (size limit )?exceeded|mail ?box full
        full mailbox|over ?quota|quota (exceeded|violation|usage exceeded)
        exceeds? (its|the|their) (mailbox )?quota
        exceeded (its|the|their)? ?(storage|quota|disk space)|disk quota
        insufficient (system |disk )?(storage|space)|out of storage
        not (enough|sufficient) (storage|disk) space|no space left
        inbox (is )?full|mail ?folder is full|recipient'?s? mailbox (is )?full
        storage quota|exceeded the local limit
        too many messages (on the server|in (the|this) mail ?box)
        the user's space has been used up|quota (is )?full|mailbox would exceed
        boite du destinataire pleine|postfach (ist )?voll
        messages in recipient's mailbox exceeded|as their mailbox is full
        would be over the allowed quota|user over quota
        """,
    ),
    (
        "message_too_big",
        r"""
        message (is )?too (big|large) for|message (file )?too big|size limit
        (message|mail) size exceeds|exceeded maximum (inbound )?message size
        message length exceeds|max(imum)? message size|line limit exceeded
        message is larger than|taille limite du message
        """,
    ),
    (
        "exceed_limit",
        r"""
        too many recipients|message too large|header size exceeds limit
        recipient limit|number of recipients
        """,
    ),
    (
        "suspended",
        r"""
        {who} (is |has been )?(currently )?(disabled|suspended|deactivated)
        {who} (is |has been )?(currently )?(inactive|frozen|locked)
        {who} (is |has been )?(terminated|archived|expired)
        inactive (account|user|mailbox)|invalid/inactive|temporarily inactive
        account (is )?(disabled|suspended|locked)|user suspended
        disabled recipient|email account that you tried to reach is disabled
        no longer (active|in service)|mailbox unavailable or access denied
        user or domain is disabled|recipient suspend
        boite du destinataire archivee|account has been discontinued
        user'?s? account is disabled
        """,
    ),
    (
        "has_moved",
        r"""
        has been replaced by|has moved|no longer at this address
        not local;? please try|forward(ing)? address
        """,
    ),
    (
        "no_relaying",
        r"""
        relay(ing)? (access )?(denied|not permitted|prohibited)|unable to relay
        not (allowed|permitted|configured) to relay|no relaying|as a relay
        not an open relay|not a gateway|we don't handle mail for|relaying mail to
        allowed rcpthosts|not local host|insecure mail relay
        """,
    ),
    (
        "auth_failure",
        r"""
        \bspf\b|sender policy framework|\bdkim\b|\bdmarc\b|domainkeys
        authentication checks? failed|unauthenticated (email|mail|message)
        does not pass (dmarc|spf|dkim)|not allowed to send (mail )?from
        is not allowed to send mail\.
        """,
    ),
    (
        "require_ptr",
        r"""
        \bptr\b|reverse dns|reverse (lookup|resolution)|rdns
        cannot find your hostname|ip name lookup failed|unresolvable relay host
        no reverse|generic dns|forward dns entry does not point
        unverif(y|i)able sending ips?
        """,
    ),
    (
        "bad_reputation",
        r"""
        reputation|user complaints|too many complaints
        deferred due to unexpected volume
        """,
    ),
    (
        "rate_limited",
        r"""
        too many (connections|concurrent|smtp sessions|errors from your ip)
        too many (messages( (from|sent))?|mails)
        connection (rate )?limit|rate limit|throttl|try again slower
        sending rate|max(imum)? (emails|messages) per|temporarily rate limited
        receiving mail at a rate|trop de connexions
        daily (message|sending) quota
        """,
    ),
    (
        "blocked",
        r"""
        (?<!may be )(block|black) ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop
        is an open relay
        barracudacentral|abuseat|sorbs|blocked (using|by|for abuse|- see)
        was blocked|ip (address )?(is )?(blocked|banned|listed|rejected)
        banned sending ip|sender ip address rejected
        client host (\S+ )?(rejected|blocked)|(helo|ehlo) command rejected
        not (currently )?accepting (mail|connections) from|dynamic ip|dial-?up
        no access from mail server|you are not allowed to connect
        not accepting connections
        access denied\. ip|connection (refused|dropped|reset)
        refused to talk to me|go away|please use the smtp server of your isp
        suspiciously like spammer|open proxy|messages from \S+ weren't sent
        service refused|your network is|host network|bad sender ip|from your ip
        currently sending spam|refused - see|access denied\.\.\.
        after initial connection|\bblocked\b(?! by the recipient)
        """,
    ),
    (
        "virus_detected",
        r"""
        \bvirus|malware|infected|executable (attachment|file)|phishing|malicious
        """,
    ),
    (
        "spam_detected",
        r"""
        \bspam|unsolicited|bulk (e-?mail|mail)|junk mail|uribl|surbl
        content (filter|rejected|denied)
        message (content )?(rejected|refused) as spam|unacceptable content
        suspected spam|rejecting (banned|mail) content|message filtered
        blacklisted url|spamassassin|probable spam|recurrent pattern
        message (content )?rejected: spam|mail rejete
        """,
    ),
    (
        "policy",
        r"""
        polic(y|ies)|not accepted for policy|prohibited|not permitted by
        header error|protocol violation|organi[sz]ational settings
        closed mailing list|members-only|not subscribed to this group
        not a member of|mass mailer|illegal attachment
        attachments? (are )?not (allowed|accepted)
        """,
    ),
    (
        "rejected",
        r"""
        sender (address |domain |email address )?(rejected|denied|refused)
        sender (address |domain |email address )?is not allowed
        sender (address |domain |email address )?(not pre-approved|verify failed)
        sender (address |domain |email address )?(was rejected|is in my black list)
        sender (address |domain |email address )?blacklisted
        invalid sender|sender (address )?(is )?invalid|domain of sender address
        unroutable sender|bogus mail from|null sender|empty envelope sender
        from: domain is invalid|provide a valid from|mail from not owned
        sender verification|address has been blacklisted
        not a registered gateway user|batv|backscatter|no third-party dsns
        returned mail not accepted|access denied \(in reply to mail from
        mail from (command )?rejected
        sender's? (address|domain) (does not exist|unknown)|not allowed to post
        emetteur invalide|senderfilterconfig|administrative prohibition
        """,
    ),
    (
        "content_error",
        r"""
        duplicate header|header size exceeds|8-bit data
        mime (headers|complexity|error)|improperly-formatted|unnecessary base64
        too many received|media (error|not supported)|not rfc ?5322 compliant
        rfcmessagenoncompliant|message format|malformed (message|header)
        conversion (required|failed)|syntax error in (header|message)
        """,
    ),
    (
        "security_error",
        r"""
        authentication (required|failure|credentials invalid|turned on)|starttls
        tls required|unauthenticated senders|not authori[sz]ed
        delivery not authori[sz]ed|encryption (needed|required)
        security (error|policy)|verification failure|you don't authenticate
        """,
    ),
    (
        "filtered",
        r"""
        refuses? to (accept|receive)|user reject|recipient preferences
        blocked by the recipient|only accepting mail from|user rules
        is not accepting (any )?mail|this account is protected|recipient refused
        domain filter|rejected by the (recipient|user)|has restricted
        not collected after|new mail is not currently|mail receiving disabled
        refuse to receive mail
        """,
    ),
    (
        "host_unknown",
        r"""
        host (or domain name )?(not found|unknown)(?!,? try again)
        unknown (host|domain)|no such domain
        (?<![@\w.-])[a-z0-9-]+(\.[a-z0-9-]+)+ does not exist
        account or domain may not exist
        domain (does not exist|not found|must exist|is not reachable|name not found)
        name or service not known|unroutable address|couldn't find any host
        host unreachable|nxdomain|mail domain mentioned
        """,
    ),
    (
        "user_unknown",
        r"""
        {who}( name)? (is )?(unknown|not known|not found|not recogni[sz]ed|not listed)
        {who}( name)? (is )?(does ?n[o']t exist|not exist|unavailable|invalid|illegal)
        unknown (or illegal )?({who}|e-?mail address)
        no such (user|recipient|mailbox|address|person|account)
        user doesn't exist
        invalid (recipient|mailbox|address|user|final delivery userid)
        bad (destination )?(mailbox|recipient|address)
        not a (valid|known) (user|recipient|mailbox)
        no (mailbox|account) (here|by that name|found)
        mailbox not (found|present)|(is|was) not found in
        not listed in (the )?(domino|public name|directory)
        recipient( address)? rejected: (access denied|unknown|invalid|user unknown)
        recipientnotfound|resolver\.adr|address (couldn't|could not) be found
        does not exist|doesn't exist|there is no one at this address
        no valid recipients|not a local address|not our customer
        doesn't have a \S+ account|recipient address rejected\.? ?(\(|$)
        utilisateur inconnu|unbekannt|onbekend
        destination addresses were unknown|unknown recipient|user unknown
        unrouteable address|address (is )?(not valid|invalid|unknown)
        mailbox unavailable
        """,
    ),
    (
        "not_accept",
        r"""
        null ?mx|does not accept mail|no mx record|no (smtp|mail) service
        accepts no mail|not accepting network messages
        no route for current request
        """,
    ),
    (
        "expired",
        r"""
        expired|timed? ?out|too long|giving up|given up
        could not be delivered (for|within)|not (been )?delivered (for|within)
        delivery attempts will continue|retry time|multiple retries
        failing for a long time|did not accept our requests to connect
        not responding|did not respond|was not reachable|not yet been delivered
        has been delayed|could not deliver for
        """,
    ),
    (
        "network_error",
        r"""
        network|no route to host|host is unreachable|name server
        dns (lookup|error|failure)|name service error|host name lookup
        lookup failure|mail loop|routing loop|too many hops|hop count|looping
        could not connect|unable to connect|couldn't connect|socket error
        connection (closed|lost)|not reachable
        """,
    ),
    (
        "system_error",
        r"""
        system (error|config)|internal (server |system )?error
        local (error|configuration)|configuration error|misconfigured
        temporary (local )?(problem|failure)|service (currently )?unavailable
        try again later|ldap|directory server|queue file|interrupted system call
        server error|mail system|resources|remote protocol error|protocol error
        """,
    ),
    (
        "mailer_error",
        r"""
        mailer error|pipe to \||procmail|maildrop|command (failed|died)
        exit (code|status)|x-unix|child status|delivery program
        """,
    ),
]


# The words that name the stage a server refused at.
_STAGES = [
    (
        CONNECT,
        r"""
        after (initial connection|connect|greeting|helo|ehlo)
        in reply to (helo|ehlo)|during greeting|(helo|ehlo) (command )?rejected
        >>> (helo|ehlo)|\[(helo|ehlo)\]
        """,
    ),
    (
        MAIL,
        r"""
        after mail from|in reply to mail from|\[mail_from\]|>>> mail from
        sender was rejected|smtp:mail
        """,
    ),
    (
        DATA,
        r"""
        after (end of )?data|in reply to (end of )?data|final data|\[data\]
        >>> data|smtp command\W+data|\(data\)|failed after i sent the message
        """,
    ),
    (
        RCPT,
        r"""
        after rcpt|in reply to rcpt|rcpt to|\[rcpt_to\]|smtp:rcpt
        does not like recipient
        """,
    ),
]


@cache
def _patterns(table: str) -> list[tuple[str, re.Pattern]]:
    """_WORDS or _STAGES compiled at first use, not at every command's start."""
    return [(name, _compile(words)) for name, words in globals()[table]]


def _normal(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def stage_of(text: str | None) -> str | None:
    """The SMTP stage a failure text says the refusal came at, if it says.

    A transcript names every command it sent: the first one answered with a
    4xx or 5xx reply is where the server refused. Otherwise the first stage
    the words name.
    """
    for match in _TRANSCRIPT.finditer(text or ""):
        if match.group(2) in "45":
            return _COMMANDS.get(match.group(1).lower(), DATA)
    text = _normal(text)
    found = [
        (match.start(), stage)
        for stage, pattern in _patterns("_STAGES")
        for match in pattern.finditer(text)
    ]
    return min(found)[1] if found else None


_TRANSCRIPT = re.compile(r"(?im)^[ \t]*>>>[ \t]*(\w+|\.)[^\n]*\n[ \t]*<<<[ \t]*(\d)")
_COMMANDS = {"helo": CONNECT, "ehlo": CONNECT, "starttls": CONNECT, "mail": MAIL}
_COMMANDS["rcpt"] = RCPT


def words_reason(text: str | None) -> str | None:
    """The reason a failure text's words name, if any."""
    text = _normal(text)
    for reason, pattern in _patterns("_WORDS"):
        if pattern.search(text):
            return reason
    return None


# --- reading a notice's fields and lines ------------------------------------


def _refine(status: str | None, text: str) -> str | None:
    """A more specific code from the words when the field is missing or says
    only "other" (X.0.0, X.1.0 and the like)."""
    if status and not status.endswith(".0"):
        return status
    codes = [".".join(m.groups()) for m in STATUS_PATTERN.finditer(text or "")]
    for found in codes:
        if found[0] in "45" and not found.endswith(".0") and found != status:
            if status is None or found[0] == status[0]:
                return found
    if status and status.endswith(".0.0"):
        # "5.0.0" in the field, "5.1.0" in the server's words: the subject.
        for found in codes:
            if found[0] == status[0] and not found.endswith(".0.0"):
                return found
    return status or find_status(text)


_REMOTE_HOST = re.compile(
    r"(?i)(?:\bhost|\bserver|talking to|remote-mta:\s*dns;)\s*\[?"
    r"([a-z0-9][\w-]*(?:\.[\w-]+)+)"
)


def _remote_host(text: str) -> str | None:
    match = _REMOTE_HOST.search(text or "")
    return match.group(1).lower().rstrip(".") if match else None


def _diagnostic_line(text: str) -> str | None:
    """The line of an explanation that carries the server's reply."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if find_status(line) or find_reply_code(line):
            # Exchange wraps the reply in '#550 ... ##', qmail writes '(#5.1.1)'.
            line = re.sub(r"#(?=\d)|\s*##+\s*$", "", line)
            return line[:500]
    return " ".join(lines)[:500] or None


def _clean_diagnostic(value: str | None) -> str | None:
    """The server's words, without the 'smtp;' type and folding."""
    if not value:
        return None
    value = re.sub(r"^\s*smtp\s*;\s*", "", value, flags=re.I)
    return " ".join(value.split())[:1000] or None


# --- what a delivery notice looks like -------------------------------------------

DAEMON_LOCAL = re.compile(
    r"^(mailer[-_]?daemon|mail[-_]?daemon|post_?master|microsoftexchange[0-9a-f]*"
    r"|mail\.delivery\.system|sysadmin)$",
    re.I,
)
DAEMON_NAME = re.compile(
    r"mail delivery (system|subsystem)|mail administrator|mailer[- ]daemon"
    r"|ndr administrator|interscan|postmaster",
    re.I,
)
BOUNCE_SUBJECT = re.compile(
    r"mail delivery failed|undeliver(ed|able)|delivery status notification"
    r"|returned mail|failure notice|delivery (failure|failed|has failed|problem)"
    r"|mail system error|delayed mail|could not send message|message delivery"
    r"|delivery delayed|not delivered|could not be delivered|mail failed|\bdelayed\b"
    r"|error sending your mail|mail error|non[- ]?delivery|are not member"
    r"|onbestelbaar|niet bezorgd|unzustellbar|nicht zustellbar|non remis"
    r"|non recapitabile|no entregado|не доставлено|配信|エラー",
    re.I,
)
# Words only a delivery notice uses to say it could not deliver.
BOUNCE_WORDS = re.compile(
    r"could not be delivered to|was not delivered to|could not deliver"
    r"|unable to deliver"
    r"|delivery to the following recipients? (failed|has been delayed)"
    r"|the following (address(es)?|recipients?)[^\n]{0,40}(failed|could not|undeliver)"
    r"|did not reach the following recipient|permanent fatal errors"
    r"|wasn't able to deliver|not (a )?member of this (mailing )?list"
    r"|delivery has failed to these recipients|returned permanent errors"
    r"|has not yet been delivered|could not be delivered",
    re.I,
)
DELAY_WORDS = re.compile(
    r"delay|warning message only|will be retried|will continue to be attempted"
    r"|has not yet been delivered|still (being retried|trying)",
    re.I,
)
SUCCESS_SUBJECT = re.compile(r"\(success\)|\(relay\)|successful", re.I)
