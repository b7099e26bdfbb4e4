#!KAMAILIO
# Reference presence server for `npm run bench` (the presence part): Kamailio's presence and
# presence_xml modules on db_text, PUBLISH and SUBSCRIBE challenged with 407 as Parley does.
# force_active=1: every watcher is authorised (Parley's side gets one allow-all pres-rule).
# @PORT@ and @DBURL@ are filled in by presence-bench.mjs.
debug=1
log_stderror=yes
children=4
listen=udp:127.0.0.1:@PORT@
alias="bench.test"
auto_aliases=no
dns=no
rev_dns=no
disable_tcp=yes
maxbuffer=4194304

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"

modparam("auth_db", "db_url", "@DBURL@")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("presence", "db_url", "@DBURL@")
modparam("presence", "server_address", "sip:127.0.0.1:@PORT@")
modparam("presence_xml", "db_url", "@DBURL@")
modparam("presence_xml", "force_active", 1)

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("PUBLISH|SUBSCRIBE")) {
    if (!has_totag()) {
      if (!proxy_authenticate("bench.test", "subscriber")) { proxy_challenge("bench.test", "1"); exit; }
      consume_credentials();
    }
    if (is_method("PUBLISH")) handle_publish(); else handle_subscribe();
    exit;
  }
  sl_send_reply("405", "Method Not Allowed");
}
