#!KAMAILIO
# Reference registrar + stateful proxy for `npm run bench`: the same job Parley does
# (REGISTER challenged with 401, MESSAGE with 407, forwarded to the registered contact).
# @PORT@, @DBURL@ and @AUTH@ are filled in by run.mjs.
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
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "@DBURL@")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("REGISTER")) {
    if (!www_authenticate("bench.test", "subscriber")) { www_challenge("bench.test", "0"); exit; }
    save("location");
    exit;
  }
  if (is_method("MESSAGE")) {
    if (@AUTH@) {
      if (!proxy_authenticate("bench.test", "subscriber")) { proxy_challenge("bench.test", "0"); exit; }
      consume_credentials();
    }
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    t_relay();
    exit;
  }
  sl_send_reply("405", "Method Not Allowed");
}
