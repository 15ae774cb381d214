"""The report page's inline CSS and script: nothing is fetched, the page works from a file.

The script only sorts and filters what the page already shows (owner, severity, group, kept in
the URL's #fragment so a filtered view can be bookmarked); without it the page is complete.
"""

from __future__ import annotations

CSS = """
:root{--crit:#8b0000;--high:#d9480f;--med:#f59f00;--low:#74b816;--info:#adb5bd;--ok:#e9f5ec;
--good:#2b8a3e;--watch:#e8b100;--risk:#e8590c;--bad:#a51111;--line:#d0d4d9;--muted:#5c636a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.25rem;color:#1b1b1b;
max-width:1500px}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:1.8rem 0 .5rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem;margin:0 0 .3rem}
a{color:#0b57a4}.meta,.sub{color:var(--muted)}.sub{display:block;font-size:.85em;font-weight:400}
.code{white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.45rem .8rem;min-width:9rem;flex:1 1 9rem}
.card b{display:block;font-size:1.45rem}
table{border-collapse:collapse;margin:.4rem 0}
th,td{border:1px solid var(--line);padding:.2rem .4rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.wide{width:100%}
.sev{white-space:nowrap;font-weight:600;padding:0 .25rem;border-radius:3px}
.sev-critical{background:var(--crit);color:#fff}.sev-high{background:var(--high);color:#fff}
.sev-medium{background:var(--med);color:#000}.sev-low{background:var(--low);color:#000}
.sev-info{background:var(--info);color:#000}.sev-none{color:#8fc79b;font-weight:400}
.health{display:inline-block;min-width:2.4em;text-align:center;font-weight:700;border-radius:3px;
padding:0 .25rem;font-variant-numeric:tabular-nums}
.band-good{background:var(--good);color:#fff}.band-watch{background:var(--watch);color:#000}
.band-at-risk{background:var(--risk);color:#fff}.band-critical{background:var(--bad);color:#fff}
.bar{display:flex;height:1.6rem;border:1px solid var(--line);border-radius:4px;overflow:hidden;
max-width:44rem;margin:.3rem 0}
.bar span{display:flex;align-items:center;justify-content:center;white-space:nowrap;overflow:hidden;
font-size:.85em;font-weight:600}
.legend{border:1px solid var(--line);border-radius:6px;padding:.4rem .8rem;margin:.6rem 0;background:#fafbfc}
.legend p{margin:.25rem 0}.legend .item{margin-right:.8rem;white-space:nowrap;display:inline-block}
#filters{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);
padding:.45rem 0;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
#filters label{white-space:nowrap}#filters select,#filters button{font:inherit;max-width:14rem}
button.sort{font:inherit;border:1px solid #999;background:#fff;border-radius:4px;padding:.1rem .5rem;
cursor:pointer}
button.sort[aria-pressed=true]{background:#1b1b1b;color:#fff}
#heatmap{width:100%}#heatmap th[scope=row]{font-weight:600}
#heatmap td.cell{text-align:center;padding:.2rem .1rem;width:2.1rem}
#heatmap th.group{text-align:center;font-weight:600;font-size:.85em}
#heatmap th.group.focus,#heatmap td.focus{outline:2px solid #1b1b1b;outline-offset:-2px}
#heatmap .sub{display:none}
svg.trend{vertical-align:middle}td.trend{white-space:nowrap}
.up{color:var(--good)}.down{color:var(--bad)}
.account{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin:.8rem 0;
break-inside:avoid-page}
.finding{border-top:1px solid var(--line);padding:.45rem 0;display:grid;gap:.2rem 1.2rem;
grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
.finding .head{grid-column:1/-1}.finding.snoozed{opacity:.75}
.finding .what{margin:0}.evidence{margin:.1rem 0;padding-left:1.1rem}
.label{font-weight:600;color:var(--muted);font-size:.85em;text-transform:uppercase;letter-spacing:.03em}
.snooze{background:#eef2ff;border-radius:3px;padding:0 .3rem}
.overdue{font-weight:700;color:var(--bad)}
.chips a{display:inline-block;margin:0 .3rem .15rem 0;white-space:nowrap}
.escalated{font-weight:600;border:1px solid var(--bad);border-radius:3px;padding:0 .25rem}
ul.plain{margin:0;padding-left:1.1rem}.play{border-top:1px solid var(--line);padding:.45rem 0}
table.steps td{overflow-wrap:anywhere}
[hidden]{display:none!important}
@media (max-width:1000px){
body{margin:.6rem;font-size:13px}
#heatmap th.group{writing-mode:vertical-rl;transform:rotate(180deg);height:7.5rem;padding:.3rem 0;
text-align:left;white-space:nowrap}
#heatmap td.owner,#heatmap th.owner{display:none}#heatmap .sub{display:block}
#heatmap td.cell{width:1.7rem}
.finding{grid-template-columns:minmax(0,1fr)}
}
@media print{body{margin:0;font-size:10.5px;max-width:none}.noprint,#filters{display:none}
.sev,.card,th,.health,.bar span,.snooze{-webkit-print-color-adjust:exact;print-color-adjust:exact}
a{color:inherit;text-decoration:none}h2{break-after:avoid-page}
#heatmap tr{break-inside:avoid}.account{border:none;border-top:1px solid #999;border-radius:0}
}
"""

SCRIPT = """
(function(){
  var RANK={info:0,low:1,medium:2,high:3,critical:4};
  var body=document.getElementById('heatmap-body');
  var state={owner:'',sev:'',group:'',sort:'health'};
  function key(row,by){
    if(by==='owner'||by==='name')return row.dataset[by];
    return parseFloat(row.dataset[by]);
  }
  function sortBy(by){
    var rows=Array.prototype.slice.call(body.rows);
    var desc=(by==='revenue');
    rows.sort(function(a,b){
      var x=key(a,by),y=key(b,by);
      if(x<y)return desc?1:-1; if(x>y)return desc?-1:1;
      return a.dataset.name<b.dataset.name?-1:1;
    });
    rows.forEach(function(r){body.appendChild(r);});
    document.querySelectorAll('button.sort').forEach(function(b){
      b.setAttribute('aria-pressed', b.dataset.by===by?'true':'false');
    });
    document.getElementById('heatmap').dataset.sorted=by;
  }
  function hits(tokens){
    if(!state.sev&&!state.group)return true;
    return (tokens||'').split(' ').some(function(t){
      if(!t)return false;
      var p=t.split('|');
      return (!state.sev||RANK[p[0]]>=RANK[state.sev])&&(!state.group||p[1]===state.group);
    });
  }
  function shown(el){
    return (!state.owner||el.dataset.owner===state.owner)&&hits(el.dataset.fg);
  }
  function apply(){
    var n=0,total=0;
    Array.prototype.forEach.call(body.rows,function(r){
      total++;var ok=shown(r);r.hidden=!ok;if(ok)n++;
    });
    document.querySelectorAll('section.account').forEach(function(s){s.hidden=!shown(s);});
    document.querySelectorAll('.finding').forEach(function(f){
      var ok=(!state.sev||RANK[f.dataset.sev]>=RANK[state.sev])&&
             (!state.group||(' '+f.dataset.groups+' ').indexOf(' '+state.group+' ')>=0);
      f.hidden=!ok;
    });
    document.querySelectorAll('#owners tbody tr,#plays tbody tr.play-owner').forEach(function(r){
      r.hidden=!!state.owner&&r.dataset.owner!==state.owner;
    });
    document.querySelectorAll('#heatmap .group,#heatmap td.cell').forEach(function(c){
      c.classList.toggle('focus',!!state.group&&c.dataset.group===state.group);
    });
    var parts=[];
    if(state.owner){
      var o=document.getElementById('f-owner');parts.push('owner '+o.options[o.selectedIndex].text);
    }
    if(state.sev)parts.push(state.sev+' or worse');
    if(state.group)parts.push('group '+state.group);
    document.getElementById('filter-status').textContent=
      'Showing '+n+' of '+total+' key accounts'+(parts.length?' \\u2014 filtered: '+parts.join(', '):'')+'.';
  }
  function save(){
    var h=[];
    ['owner','sev','group'].forEach(function(k){if(state[k])h.push(k+'='+encodeURIComponent(state[k]));});
    if(state.sort!=='health')h.push('sort='+state.sort);
    history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname+location.search);
  }
  location.hash.replace(/^#/,'').split('&').forEach(function(kv){
    var p=kv.split('=');
    if(p.length===2&&p[0] in state)state[p[0]]=decodeURIComponent(p[1]);
  });
  ['owner','sev','group'].forEach(function(k){
    var el=document.getElementById('f-'+k);
    if(!Array.prototype.some.call(el.options,function(o){return o.value===state[k];}))state[k]='';
    el.value=state[k];
    el.addEventListener('change',function(){state[k]=el.value;apply();save();});
  });
  document.getElementById('f-clear').addEventListener('click',function(){
    ['owner','sev','group'].forEach(function(k){state[k]='';document.getElementById('f-'+k).value='';});
    apply();save();
  });
  document.querySelectorAll('button.sort').forEach(function(b){
    b.addEventListener('click',function(){state.sort=b.dataset.by;sortBy(state.sort);save();});
  });
  if(['health','revenue','owner','name'].indexOf(state.sort)<0)state.sort='health';
  sortBy(state.sort);
  apply();
  document.documentElement.dataset.ready='yes';
})();
"""
