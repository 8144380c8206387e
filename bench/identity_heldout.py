#!/usr/bin/python3
"""bench/identity_heldout.py — a held-out Chinese dataset for concord's identity resolution.

Written for issue 20 WITHOUT reading the matcher (src/identity/), the
project's own generator (bench/identity.sh, test/fixtures/identity_gen.sql)
or the identity tests: only docs/identity.md (the user's manual) and the
departments' article in /work/shared/seeds were read.  Its people, their
records and the ways those records go wrong come from the author's own
knowledge of Chinese customer data, so that accuracy measured on it says
something about data the matcher was not tuned against.

Usage: identity_heldout.py PEOPLE OUTDIR [SEED]
Writes OUTDIR/{crm_lead,fin_invoice,cs_ticket,mkt_signup,truth,person}.csv
(CSV with a header; an empty unquoted field is NULL).  Python's standard
library only; the same PEOPLE and SEED give the same files.

The four departments and their habits
-------------------------------------
销售 CRM leads (crm_lead): reps type a lead after a call or a visit.  The
  contact's name as heard (mostly right; sometimes only the surname and a
  title, 张总 / 王经理, because that is how the rep addresses them; an
  English name the contact gave, "Lily Wang"; a space between surname and
  given name), the mobile in whatever layout the rep likes (dashes, spaces,
  +86), the work email, the employer as people say it (华信科技, 华信,
  rarely the full legal name).  No ID numbers, no addresses.  A person
  can be entered twice by two reps, and again after changing employer.
财务 invoices and contracts (fin_invoice): one row per invoice.  The buyer
  company's full legal name (北京华信科技有限公司) or 个人 for a private
  buyer; the contact's name as on the contract (an old billing system's
  export is in traditional characters, 張偉); the phone finance calls:
  the company switchboard with an extension (010-62345678转801) as often
  as a mobile; the billing address in full; the resident ID number for
  private buyers and for contracts signed by a legal representative —
  with typos, a lower-case x, some 15-digit numbers from before 1999.
  Several invoices per customer.
客服 service tickets (cs_ticket): one row per call.  The caller's number
  as the switch recorded it (13800138000, 013800138000 with a trunk 0,
  +8613800138000, 8613800138000), or the home landline; a family calls
  from one phone.  The name as the agent heard it: often only 张先生 /
  李女士, 客户, nothing at all, or a homophone (张玮 for 张伟); an email
  now and then; an address when a technician must visit.
市场 sign-ups (mkt_signup): web forms and events, typed by the people
  themselves: names in pinyin or English order (Wei Zhang, ZHANG Wei,
  zhangwei), full-width digits from a Chinese input method, QQ and 163
  mailboxes in any case, the employer in any form (also in English, or 个人
  / 无), a gift-mailing address at any granularity, placeholders (无,
  test@test.com, 13800000000) from people who would rather not say.

The people: surnames and given names drawn with a skew (张伟, 王芳, 李娜
are shared by many), 2- and 3-character names, compound surnames (欧阳,
司马), surnames read specially (曾 zeng, 单 shan, 吕 Lyu), Uyghur names with
a middle dot, households sharing an address, a landline and sometimes a
mobile, people who changed mobile or employer, employers that share a
brand in two cities (北京华信科技 / 深圳华信科技), universities and
hospitals.

truth.csv gives the person behind every row (and the distortions applied
to it as tags); person.csv gives each person's household and canonical
values, for the error analysis.
"""

import csv
import os
import random
import sys

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

# (surname, pinyin as a passport writes it, weight ~ frequency)
SURNAMES = [
    ("王", "Wang", 7.1), ("李", "Li", 7.0), ("张", "Zhang", 6.7), ("刘", "Liu", 5.4),
    ("陈", "Chen", 4.5), ("杨", "Yang", 3.1), ("黄", "Huang", 2.2), ("赵", "Zhao", 2.1),
    ("吴", "Wu", 2.0), ("周", "Zhou", 1.9), ("徐", "Xu", 1.4), ("孙", "Sun", 1.4),
    ("马", "Ma", 1.3), ("朱", "Zhu", 1.2), ("胡", "Hu", 1.1), ("郭", "Guo", 1.1),
    ("何", "He", 1.0), ("高", "Gao", 1.0), ("林", "Lin", 1.0), ("罗", "Luo", 0.9),
    ("郑", "Zheng", 0.9), ("梁", "Liang", 0.8), ("谢", "Xie", 0.7), ("宋", "Song", 0.7),
    ("唐", "Tang", 0.7), ("许", "Xu", 0.6), ("韩", "Han", 0.6), ("冯", "Feng", 0.6),
    ("邓", "Deng", 0.6), ("曹", "Cao", 0.6), ("彭", "Peng", 0.5), ("曾", "Zeng", 0.5),
    ("肖", "Xiao", 0.5), ("田", "Tian", 0.5), ("董", "Dong", 0.5), ("袁", "Yuan", 0.4),
    ("潘", "Pan", 0.4), ("于", "Yu", 0.4), ("蒋", "Jiang", 0.4), ("蔡", "Cai", 0.4),
    ("余", "Yu", 0.4), ("杜", "Du", 0.4), ("叶", "Ye", 0.4), ("程", "Cheng", 0.4),
    ("苏", "Su", 0.3), ("魏", "Wei", 0.3), ("吕", "Lyu", 0.3), ("丁", "Ding", 0.3),
    ("任", "Ren", 0.3), ("沈", "Shen", 0.3), ("姚", "Yao", 0.3), ("卢", "Lu", 0.3),
    ("姜", "Jiang", 0.3), ("崔", "Cui", 0.3), ("钟", "Zhong", 0.3), ("谭", "Tan", 0.3),
    ("陆", "Lu", 0.3), ("汪", "Wang", 0.3), ("范", "Fan", 0.3), ("金", "Jin", 0.3),
    ("石", "Shi", 0.2), ("廖", "Liao", 0.2), ("贾", "Jia", 0.2), ("夏", "Xia", 0.2),
    ("韦", "Wei", 0.2), ("付", "Fu", 0.2), ("方", "Fang", 0.2), ("白", "Bai", 0.2),
    ("邹", "Zou", 0.2), ("孟", "Meng", 0.2), ("熊", "Xiong", 0.2), ("秦", "Qin", 0.2),
    ("邱", "Qiu", 0.2), ("江", "Jiang", 0.2), ("尹", "Yin", 0.2), ("薛", "Xue", 0.2),
    ("闫", "Yan", 0.2), ("段", "Duan", 0.2), ("雷", "Lei", 0.2), ("侯", "Hou", 0.2),
    ("龙", "Long", 0.2), ("史", "Shi", 0.2), ("陶", "Tao", 0.1), ("黎", "Li", 0.1),
    ("贺", "He", 0.1), ("顾", "Gu", 0.1), ("毛", "Mao", 0.1), ("郝", "Hao", 0.1),
    ("龚", "Gong", 0.1), ("邵", "Shao", 0.1), ("万", "Wan", 0.1), ("钱", "Qian", 0.1),
    ("严", "Yan", 0.1), ("覃", "Qin", 0.1), ("武", "Wu", 0.1), ("戴", "Dai", 0.1),
    ("莫", "Mo", 0.1), ("孔", "Kong", 0.1), ("向", "Xiang", 0.1), ("汤", "Tang", 0.1),
    ("单", "Shan", 0.05), ("解", "Xie", 0.04), ("仇", "Qiu", 0.03), ("朴", "Piao", 0.03),
    ("翟", "Zhai", 0.05), ("区", "Ou", 0.02), ("查", "Zha", 0.03),
    ("欧阳", "Ouyang", 0.05), ("司马", "Sima", 0.02), ("诸葛", "Zhuge", 0.01),
    ("上官", "Shangguan", 0.01), ("东方", "Dongfang", 0.01), ("皇甫", "Huangfu", 0.01),
    ("慕容", "Murong", 0.005), ("司徒", "Situ", 0.02),
]

# given-name characters: (char, pinyin, sex M/F/N, weight)
GIVEN = [
    ("伟", "wei", "M", 9), ("芳", "fang", "F", 8), ("娜", "na", "F", 7), ("敏", "min", "F", 6),
    ("静", "jing", "F", 6), ("丽", "li", "F", 5), ("强", "qiang", "M", 5), ("磊", "lei", "M", 5),
    ("军", "jun", "M", 5), ("洋", "yang", "M", 5), ("勇", "yong", "M", 4), ("艳", "yan", "F", 4),
    ("杰", "jie", "M", 4), ("娟", "juan", "F", 4), ("涛", "tao", "M", 4), ("明", "ming", "M", 4),
    ("超", "chao", "M", 4), ("秀", "xiu", "F", 3), ("霞", "xia", "F", 3), ("平", "ping", "N", 3),
    ("刚", "gang", "M", 3), ("桂", "gui", "F", 2), ("英", "ying", "F", 3), ("华", "hua", "N", 4),
    ("玉", "yu", "F", 3), ("兰", "lan", "F", 2), ("文", "wen", "N", 3), ("辉", "hui", "M", 3),
    ("鹏", "peng", "M", 3), ("斌", "bin", "M", 2), ("宇", "yu", "M", 3), ("浩", "hao", "M", 3),
    ("凯", "kai", "M", 2), ("健", "jian", "M", 2), ("俊", "jun", "M", 2), ("帆", "fan", "N", 2),
    ("帅", "shuai", "M", 2), ("旭", "xu", "M", 2), ("宁", "ning", "N", 2), ("龙", "long", "M", 2),
    ("林", "lin", "N", 2), ("欢", "huan", "F", 2), ("阳", "yang", "M", 2), ("建", "jian", "M", 3),
    ("国", "guo", "M", 3), ("志", "zhi", "M", 3), ("海", "hai", "M", 2), ("峰", "feng", "M", 2),
    ("波", "bo", "M", 2), ("亮", "liang", "M", 2), ("飞", "fei", "M", 2), ("雪", "xue", "F", 2),
    ("梅", "mei", "F", 2), ("琳", "lin", "F", 2), ("晶", "jing", "F", 2), ("婷", "ting", "F", 3),
    ("慧", "hui", "F", 2), ("颖", "ying", "F", 2), ("佳", "jia", "N", 2), ("欣", "xin", "F", 2),
    ("怡", "yi", "F", 2), ("雨", "yu", "F", 2), ("萱", "xuan", "F", 1), ("子", "zi", "N", 2),
    ("涵", "han", "F", 1), ("梓", "zi", "N", 1), ("轩", "xuan", "M", 1), ("思", "si", "F", 1),
    ("晨", "chen", "N", 2), ("博", "bo", "M", 1), ("嘉", "jia", "N", 1), ("诗", "shi", "F", 1),
    ("琪", "qi", "F", 1), ("晓", "xiao", "N", 3), ("红", "hong", "F", 3), ("小", "xiao", "N", 2),
    ("春", "chun", "N", 2), ("燕", "yan", "F", 2), ("东", "dong", "M", 2), ("丹", "dan", "F", 2),
    ("倩", "qian", "F", 1), ("蕾", "lei", "F", 1), ("璐", "lu", "F", 1), ("振", "zhen", "M", 1),
    ("德", "de", "M", 1), ("成", "cheng", "M", 2), ("家", "jia", "N", 1), ("荣", "rong", "N", 1),
    ("庆", "qing", "M", 1), ("永", "yong", "M", 2), ("新", "xin", "N", 1), ("胜", "sheng", "M", 1),
    ("金", "jin", "N", 1), ("宏", "hong", "M", 1), ("晴", "qing", "F", 1), ("瑶", "yao", "F", 1),
    ("鑫", "xin", "N", 1), ("淑", "shu", "F", 1), ("云", "yun", "N", 2), ("凤", "feng", "F", 1),
    ("玲", "ling", "F", 2), ("莉", "li", "F", 1), ("昊", "hao", "M", 1), ("然", "ran", "N", 1),
    ("一", "yi", "N", 1), ("天", "tian", "M", 1), ("泽", "ze", "M", 1), ("铭", "ming", "M", 1),
    ("睿", "rui", "M", 1), ("彤", "tong", "F", 1), ("悦", "yue", "F", 1), ("可", "ke", "N", 1),
    ("心", "xin", "F", 1), ("立", "li", "M", 1), ("秋", "qiu", "F", 1), ("松", "song", "M", 1),
]
GIVEN_PINYIN = {c: p for c, p, _, _ in GIVEN}

# Names heard over the phone and typed as another character of the same sound
HOMOPHONE = {
    "伟": "玮维", "娜": "纳", "静": "晶婧", "芳": "方", "丽": "莉俪", "明": "铭名",
    "军": "君", "华": "桦", "杰": "洁", "涛": "韬", "刚": "钢", "平": "萍", "英": "瑛",
    "玲": "琳", "斌": "彬", "晨": "辰", "欣": "新", "鑫": "新", "宇": "雨", "浩": "昊",
    "磊": "垒", "勇": "永", "洋": "阳", "辉": "晖", "颖": "莹", "婷": "亭", "红": "宏",
    "燕": "艳", "敏": "民", "强": "蔷", "峰": "锋",
}

# Simplified -> traditional, for the old billing system's export
TRAD = {
    "张": "張", "伟": "偉", "刘": "劉", "陈": "陳", "杨": "楊", "黄": "黃", "赵": "趙",
    "吴": "吳", "郑": "鄭", "谢": "謝", "罗": "羅", "许": "許", "韩": "韓", "冯": "馮",
    "邓": "鄧", "马": "馬", "孙": "孫", "叶": "葉", "苏": "蘇", "吕": "呂", "卢": "盧",
    "钟": "鍾", "谭": "譚", "陆": "陸", "贾": "賈", "龙": "龍", "邹": "鄒", "顾": "顧",
    "龚": "龔", "钱": "錢", "严": "嚴", "汤": "湯", "丽": "麗", "军": "軍", "东": "東",
    "红": "紅", "凤": "鳳", "飞": "飛", "涛": "濤", "云": "雲", "兰": "蘭", "庆": "慶",
    "杰": "傑", "宁": "寧", "欢": "歡", "晓": "曉", "辉": "輝", "华": "華", "国": "國",
    "强": "強", "娟": "娟", "鹏": "鵬", "刚": "剛", "凯": "凱", "帅": "帥", "亮": "亮",
    "颖": "穎", "诗": "詩", "萱": "萱", "浩": "浩", "宏": "宏", "铭": "銘", "鑫": "鑫",
    "艳": "艷", "霞": "霞", "梦": "夢", "荣": "榮", "胜": "勝", "爱": "愛", "峰": "峰",
    "科": "科", "技": "技", "贸": "貿", "易": "易", "电": "電", "机": "機", "械": "械",
    "医": "醫", "药": "藥", "软": "軟", "件": "件", "网": "網", "络": "絡", "物": "物",
    "流": "流", "设": "設", "计": "計", "传": "傳", "媒": "媒", "资": "資", "环": "環",
    "保": "保", "育": "育", "询": "詢", "业": "業", "发": "發", "展": "展", "广": "廣",
    "门": "門", "宫": "宮", "际": "際", "达": "達", "远": "遠", "丰": "豐", "锐": "銳",
    "纳": "納", "汇": "匯", "联": "聯", "创": "創", "盛": "盛", "鸿": "鴻", "运": "運",
    "万": "萬", "邦": "邦", "术": "術", "报": "報", "区": "區", "号": "號", "楼": "樓",
    "层": "層", "厦": "廈", "路": "路", "街": "街", "经": "經", "总": "總",
}

ENGLISH_GIVEN_M = ["David", "Kevin", "Jason", "Eric", "Tony", "Jack", "Leo", "Peter", "Frank", "Michael", "Steven", "Ryan"]
ENGLISH_GIVEN_F = ["Lily", "Cindy", "Grace", "Amy", "Vivian", "Helen", "Coco", "Jenny", "Sophia", "Emma", "Annie", "Crystal"]

# Uyghur names are written given name · father's name (the father's given name)
UYGHUR_GIVEN_M = ["买买提", "艾力", "艾合买提", "阿不都热依木", "努尔兰", "吐尔逊", "艾山", "库尔班", "托合提",
                  "阿布都", "依明", "玉素甫", "热合曼", "阿力木", "买尔旦", "阿不来提", "亚森", "肉孜"]
UYGHUR_GIVEN_F = ["阿依古丽", "古丽娜尔", "热依拉", "迪丽努尔", "帕提古丽", "米娜瓦尔", "再努尔", "祖丽胡玛尔",
                  "阿依努尔", "古再丽", "玛依拉", "努尔古丽"]

# (province, city, area code, ID region code, districts, streets); municipalities have province == city
REGIONS = [
    ("北京市", "北京市", "010", "110108", ["海淀区", "朝阳区", "东城区", "西城区", "丰台区"], ["中关村大街", "学院路", "建国路", "望京街", "知春路", "安定门外大街"], 8),
    ("上海市", "上海市", "021", "310115", ["浦东新区", "徐汇区", "静安区", "闵行区", "黄浦区"], ["张江路", "世纪大道", "漕溪北路", "南京西路", "虹梅路", "淮海中路"], 8),
    ("广东省", "广州市", "020", "440106", ["天河区", "越秀区", "海珠区", "番禺区"], ["天河路", "中山五路", "新港西路", "体育西路"], 6),
    ("广东省", "深圳市", "0755", "440305", ["南山区", "福田区", "宝安区", "龙岗区"], ["科技园南路", "深南大道", "新安六路", "华强北路"], 6),
    ("浙江省", "杭州市", "0571", "330106", ["西湖区", "滨江区", "拱墅区", "余杭区"], ["文三路", "江南大道", "莫干山路", "文一西路"], 5),
    ("四川省", "成都市", "028", "510107", ["武侯区", "锦江区", "青羊区", "成华区"], ["人民南路", "天府大道", "春熙路", "蜀汉路"], 4),
    ("湖北省", "武汉市", "027", "420106", ["武昌区", "洪山区", "江汉区"], ["中南路", "珞喻路", "解放大道"], 3),
    ("江苏省", "南京市", "025", "320102", ["玄武区", "鼓楼区", "建邺区"], ["中山路", "江东中路", "珠江路"], 3),
    ("江苏省", "苏州市", "0512", "320508", ["姑苏区", "吴中区", "相城区"], ["人民路", "星湖街", "干将路"], 3),
    ("山东省", "济南市", "0531", "370102", ["历下区", "市中区", "槐荫区"], ["经十路", "泉城路", "解放路"], 2),
    ("陕西省", "西安市", "029", "610113", ["雁塔区", "碑林区", "未央区"], ["高新路", "长安中路", "科技路"], 2),
    ("重庆市", "重庆市", "023", "500103", ["渝中区", "江北区", "南岸区"], ["民族路", "建新北路", "南坪正街"], 2),
    ("天津市", "天津市", "022", "120101", ["和平区", "南开区", "河西区"], ["南京路", "卫津路", "友谊路"], 2),
    ("福建省", "厦门市", "0592", "350203", ["思明区", "湖里区"], ["鹭江道", "嘉禾路", "湖滨南路"], 1),
    ("河南省", "郑州市", "0371", "410105", ["金水区", "二七区", "中原区"], ["花园路", "金水路", "大学路"], 2),
    ("湖南省", "长沙市", "0731", "430102", ["芙蓉区", "岳麓区", "天心区"], ["五一大道", "麓山南路", "芙蓉中路"], 2),
    ("安徽省", "合肥市", "0551", "340104", ["蜀山区", "包河区", "庐阳区"], ["长江西路", "黄山路", "马鞍山路"], 1),
    ("河北省", "保定市", "0312", "130602", ["竞秀区", "莲池区"], ["朝阳北大街", "东风中路"], 1),
]
REGION_W = [r[6] for r in REGIONS]

BRANDS = [
    ("华信", "Huaxin"), ("中科", "Zhongke"), ("金达", "Jinda"), ("鼎盛", "Dingsheng"), ("恒通", "Hengtong"),
    ("宏远", "Hongyuan"), ("天成", "Tiancheng"), ("博雅", "Boya"), ("瑞丰", "Ruifeng"), ("新锐", "Xinrui"),
    ("长城", "Changcheng"), ("海纳", "Haina"), ("星辰", "Xingchen"), ("蓝海", "Lanhai"), ("正泰", "Zhengtai"),
    ("汇通", "Huitong"), ("联创", "Lianchuang"), ("智远", "Zhiyuan"), ("永安", "Yongan"), ("盛世", "Shengshi"),
    ("凯旋", "Kaixuan"), ("嘉禾", "Jiahe"), ("富力", "Fuli"), ("华美", "Huamei"), ("明德", "Mingde"),
    ("宇航", "Yuhang"), ("同创", "Tongchuang"), ("安信", "Anxin"), ("晨光", "Chenguang"), ("云端", "Yunduan"),
    ("易达", "Yida"), ("百川", "Baichuan"), ("启明", "Qiming"), ("卓越", "Zhuoyue"), ("鸿运", "Hongyun"),
    ("万邦", "Wanbang"), ("和信", "Hexin"), ("远景", "Yuanjing"), ("九州", "Jiuzhou"), ("东方", "Dongfang"),
]
INDUSTRIES = [
    ("科技", "Technology", "tech"), ("软件", "Software", "soft"), ("贸易", "Trading", "trade"),
    ("机械", "Machinery", "mach"), ("电子", "Electronics", "elec"), ("医药", "Pharmaceutical", "pharm"),
    ("物流", "Logistics", "log"), ("建设工程", "Construction Engineering", "build"),
    ("教育咨询", "Education Consulting", "edu"), ("食品", "Food", "food"),
    ("信息技术", "Information Technology", "it"), ("网络科技", "Network Technology", "net"),
    ("文化传媒", "Culture Media", "media"), ("投资管理", "Investment Management", "invest"),
    ("环保", "Environmental Protection", "eco"),
]
LEGAL = [("有限公司", "Co., Ltd."), ("股份有限公司", "Co., Ltd."), ("有限责任公司", "Co., Ltd.")]
# institutions: (full, short forms, English, email domain)
INSTITUTIONS = [
    ("北京大学", ["北大"], "Peking University", "pku.edu.cn", 0),
    ("上海大学", ["上大"], "Shanghai University", "shu.edu.cn", 1),
    ("浙江大学", ["浙大"], "Zhejiang University", "zju.edu.cn", 4),
    ("四川大学", ["川大"], "Sichuan University", "scu.edu.cn", 5),
    ("北京协和医院", ["协和医院", "协和"], "Peking Union Medical College Hospital", "pumch.cn", 0),
    ("上海市第一人民医院", ["市一医院", "第一人民医院"], "Shanghai General Hospital", "shgh.cn", 1),
    ("中国工商银行股份有限公司北京海淀支行", ["工商银行", "工行海淀支行", "中国工商银行"], "ICBC Beijing Haidian Branch", "icbc.com.cn", 0),
]

MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183",
                   "186", "187", "188", "189", "198", "199"]
PERSONAL_DOMAINS = ["163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "foxmail.com", "hotmail.com", "139.com"]

FW = str.maketrans("0123456789", "０１２３４５６７８９")

# How a mobile (11 digits) is written, by style: grouped 3-4-4 with dashes
# or spaces, with the country code in its several spellings, with the
# trunk 0, in full-width digits.
MOBILE_STYLES = {
    "plain": lambda m: m,
    "dash": lambda m: "%s-%s-%s" % (m[:3], m[3:7], m[7:]),
    "space": lambda m: "%s %s %s" % (m[:3], m[3:7], m[7:]),
    "plus86": lambda m: "+86 %s %s %s" % (m[:3], m[3:7], m[7:]),
    "plus86tight": lambda m: "+86" + m,
    "86dash": lambda m: "86-" + m,
    "0086": lambda m: "0086 " + m,
    "paren": lambda m: "(+86)" + m,
    "trunk0": lambda m: "0" + m,
    "86": lambda m: "86" + m,
    "fullwidth": lambda m: m.translate(FW),
    "fullwidth_space": lambda m: ("%s %s %s" % (m[:3], m[3:7], m[7:])).translate(FW),
}

# How a landline (area code with its 0, local number) is written, by style.
LANDLINE_STYLES = {
    "dash": lambda area, local: "%s-%s" % (area, local),
    "paren": lambda area, local: "(%s)%s" % (area, local),
    "space": lambda area, local: "%s %s %s" % (area, local[:4], local[4:]),
    "plus86": lambda area, local: "+86 %s %s" % (area[1:], local),
    "noarea": lambda area, local: local,
}

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def id_check(first17):
    """The check character of a resident ID number (GB 11643)."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def zipf_weights(n, s=1.0):
    return [1.0 / (i + 1) ** s for i in range(n)]


class Gen:
    def __init__(self, people, seed):
        self.n = people
        self.rng = random.Random(seed)
        self.used_mobiles = set()
        self.used_landlines = set()
        self.used_qq = set()
        self.used_ids = set()
        self.persons = []
        self.companies = []

    # -- canonical values -------------------------------------------------

    def new_mobile(self):
        r = self.rng
        while True:
            m = r.choice(MOBILE_PREFIXES) + "".join(r.choice("0123456789") for _ in range(8))
            if m not in self.used_mobiles and m != "13800000000":
                self.used_mobiles.add(m)
                return m

    def new_landline(self, region):
        r = self.rng
        while True:
            local = r.choice("2345678") + "".join(r.choice("0123456789") for _ in range(7))
            if (region[2], local) not in self.used_landlines:
                self.used_landlines.add((region[2], local))
                return (region[2], local)

    def new_id(self, region, birth, sex):
        r = self.rng
        while True:
            s2 = "%02d" % r.randrange(0, 100)
            s3 = r.choice("13579") if sex == "M" else r.choice("02468")
            area = region[3][:4] + "%02d" % r.choice([1, 2, 3, 4, 5, 6, 8, 11, 12])
            first17 = area + "%04d%02d%02d" % birth + s2 + s3
            if first17 not in self.used_ids:
                self.used_ids.add(first17)
                return first17 + id_check(first17)

    def make_companies(self):
        r = self.rng
        seen = set()
        ncomp = max(60, min(900, self.n // 25))
        while len(self.companies) < ncomp:
            b = r.choice(BRANDS)
            ind = r.choice(INDUSTRIES)
            reg = r.choices(REGIONS, REGION_W)[0]
            if (b[0], ind[0], reg[1]) in seen:
                continue
            seen.add((b[0], ind[0], reg[1]))
            legal = r.choice(LEGAL)
            cityshort = reg[1].rstrip("市")
            style = r.random()
            if style < 0.75:
                full = cityshort + b[0] + ind[0] + legal[0]
            elif style < 0.9:
                full = b[0] + ind[0] + "(" + cityshort + ")" + legal[0]
            else:
                full = b[0] + ind[0] + legal[0]
            english = "%s %s %s" % (self.pinyin_city(reg[1]), b[1], ind[1]) + " " + legal[1]
            domain = (b[1].lower() + "-" + ind[2] + r.choice([".com", ".com.cn", ".cn"]))
            self.companies.append(dict(
                full=full, shorts=[b[0] + ind[0], b[0]], english=english, domain=domain,
                region=reg, board=self.new_landline(reg), address=self.address_parts(reg, office=True),
                kind="firm"))
        for full, shorts, english, domain, ri in INSTITUTIONS:
            reg = REGIONS[ri]
            self.companies.append(dict(full=full, shorts=shorts, english=english, domain=domain, region=reg,
                                       board=self.new_landline(reg), address=self.address_parts(reg, office=True),
                                       kind="institution"))
        r.shuffle(self.companies)
        self.company_w = zipf_weights(len(self.companies), 1.05)

    @staticmethod
    def pinyin_city(city):
        return {"北京市": "Beijing", "上海市": "Shanghai", "广州市": "Guangzhou", "深圳市": "Shenzhen",
                "杭州市": "Hangzhou", "成都市": "Chengdu", "武汉市": "Wuhan", "南京市": "Nanjing",
                "苏州市": "Suzhou", "济南市": "Jinan", "西安市": "Xi'an", "重庆市": "Chongqing",
                "天津市": "Tianjin", "厦门市": "Xiamen", "郑州市": "Zhengzhou", "长沙市": "Changsha",
                "合肥市": "Hefei", "保定市": "Baoding"}[city]

    def address_parts(self, reg, office=False):
        r = self.rng
        street = r.choice(reg[5])
        num = r.randrange(1, 400)
        if office:
            tower = r.choice(["", "", "科技大厦", "国际中心", "创业园", "商务楼", "广场"])
            unit = ("%s%d层" % (r.choice(["A座", "B座", ""]), r.randrange(2, 30))) if tower else ("%d室" % r.randrange(101, 2999))
        else:
            tower = r.choice(["", "", "小区", "花园", "家园", "公寓"])
            if tower:
                tower = r.choice(["阳光", "金色", "绿地", "万科", "碧桂", "和谐", "幸福"]) + tower
            unit = "%d栋%d单元%d室" % (r.randrange(1, 30), r.randrange(1, 6), r.randrange(101, 2800)) if tower else "%d号楼%d室" % (r.randrange(1, 20), r.randrange(101, 1800))
        return dict(province=reg[0], city=reg[1], district=r.choice(reg[4]), street=street,
                    number="%d号" % num, tower=tower, unit=unit)

    def make_given(self, sex, length):
        r = self.rng
        pool = [g for g in GIVEN if g[2] in (sex, "N")]
        chars = r.choices(pool, [g[3] ** 1.6 for g in pool], k=length)
        return "".join(c[0] for c in chars)

    def make_person(self, pid, surname=None, household=None, home=None, landline=None, sex=None, age_band=None):
        r = self.rng
        p = dict(pid=pid, household=household)
        sex = sex or r.choice("MF")
        p["sex"] = sex
        if surname is None:
            s = r.choices(SURNAMES, [x[2] for x in SURNAMES])[0]
        else:
            s = surname
        p["surname"], p["surname_py"] = s[0], s[1]
        lo, hi = age_band or (1955, 2003)
        year = r.randrange(lo, hi + 1)
        p["birth"] = (year, r.randrange(1, 13), r.randrange(1, 29))
        # older people more often have one-character given names
        p_single = 0.55 if year < 1975 else (0.35 if year < 1990 else 0.2)
        p["uyghur"] = None
        if surname is None and household is None and r.random() < 0.006:
            u = (r.choice(UYGHUR_GIVEN_M if sex == "M" else UYGHUR_GIVEN_F), r.choice(UYGHUR_GIVEN_M))
            p["uyghur"] = u
            p["surname"], p["surname_py"], p["given"] = "", "", ""
            p["name"] = u[0] + "·" + u[1]
        else:
            given = self.make_given(sex, 1 if r.random() < p_single else 2)
            p["given"] = given
            p["name"] = p["surname"] + given
        p["given_py"] = "".join(GIVEN_PINYIN[c] for c in p.get("given", ""))
        p["english"] = None
        if r.random() < 0.04 and not p["uyghur"]:
            p["english"] = r.choice(ENGLISH_GIVEN_M if sex == "M" else ENGLISH_GIVEN_F)
        p["region"] = home["region"] if home else r.choices(REGIONS, REGION_W)[0]
        p["id"] = self.new_id(p["region"], p["birth"], sex)
        p["home"] = home["address"] if home else self.address_parts(p["region"])
        p["landline"] = landline
        p["mobile"] = self.new_mobile() if r.random() < 0.97 else None
        p["mobile_old"] = self.new_mobile() if p["mobile"] and r.random() < 0.10 else None
        p["change_at"] = r.uniform(0.2, 0.8)  # share of the time line at which phone / employer changed
        if r.random() < 0.45:
            p["qq"] = self.new_qq()
        else:
            p["qq"] = None
        p["personal_email"] = self.personal_email(p) if r.random() < 0.55 else None
        employed = year < 2001 and r.random() < 0.72
        if employed:
            ci = r.choices(range(len(self.companies)), self.company_w)[0]
            p["company"] = ci
            p["company_old"] = r.choices(range(len(self.companies)), self.company_w)[0] if r.random() < 0.08 else None
            p["ext"] = "%d" % r.randrange(100, 9000) if r.random() < 0.6 else None
            p["work_email"] = self.work_email(p, self.companies[ci]) if r.random() < 0.7 else None
        else:
            p["company"] = p["company_old"] = p["ext"] = p["work_email"] = None
        p["shared_mobile"] = None  # a household member's mobile this person calls from
        return p

    def new_qq(self):
        r = self.rng
        while True:
            q = str(r.randrange(10000, 3999999999))
            if q not in self.used_qq:
                self.used_qq.add(q)
                return q

    def latin(self, p):
        """surname and given name in passport spelling (吕 Lyu, 曾 Zeng)."""
        return p["surname_py"], p["given_py"].capitalize()

    def personal_email(self, p):
        r = self.rng
        if p["uyghur"]:
            local = "user%d" % r.randrange(1000, 99999)
        else:
            s, g = p["surname_py"].lower(), p["given_py"].lower()
            local = r.choice([s + g, g + "." + s, s + "." + g, s + g + str(p["birth"][0]), s + g + "%02d" % (p["birth"][0] % 100),
                              g[:1] + s + str(r.randrange(1, 999)), s + "_" + g])
        return local + "@" + r.choice(PERSONAL_DOMAINS)

    def work_email(self, p, c):
        r = self.rng
        if p["uyghur"]:
            local = "u%d" % r.randrange(100, 9999)
        else:
            s, g = p["surname_py"].lower(), p["given_py"].lower()
            local = r.choice([s + g, g + "." + s, g[:1] + s, s + "." + g, s + g[:1]])
        if r.random() < 0.15:
            local += str(r.randrange(1, 9))
        return local + "@" + c["domain"]

    def make_people(self):
        r = self.rng
        pid = 0
        while pid < self.n:
            if r.random() < 0.12 and pid + 4 < self.n:
                # a household: a couple, maybe a child and a parent, one address
                reg = r.choices(REGIONS, REGION_W)[0]
                home = dict(region=reg, address=self.address_parts(reg))
                landline = self.new_landline(reg) if r.random() < 0.45 else None
                hh = pid
                head_s = r.choices(SURNAMES, [x[2] for x in SURNAMES])[0]
                members = [self.make_person(pid, head_s, hh, home, landline, "M", (1960, 1990))]
                pid += 1
                members.append(self.make_person(pid, None, hh, home, landline, "F", (1960, 1990)))
                pid += 1
                if r.random() < 0.6:
                    members.append(self.make_person(pid, head_s, hh, home, landline, r.choice("MF"), (1992, 2006)))
                    pid += 1
                if r.random() < 0.35:
                    members.append(self.make_person(pid, head_s, hh, home, landline, r.choice("MF"), (1938, 1958)))
                    pid += 1
                # an elder or a child without a mobile of their own calls from a relative's
                for m in members:
                    if (m["mobile"] is None or m["birth"][0] < 1959 or m["birth"][0] > 2003) and r.random() < 0.6:
                        other = r.choice([x for x in members if x is not m and x["mobile"]] or [None])
                        if other:
                            m["shared_mobile"] = other["mobile"]
                            if r.random() < 0.5:
                                m["mobile"] = None
                self.persons.extend(members)
            else:
                self.persons.append(self.make_person(pid))
                pid += 1

    # -- rendering: how a value is written ----------------------------------

    def fmt_mobile(self, m, style):
        """mobile m as written in style (MOBILE_STYLES)."""
        if style not in MOBILE_STYLES:
            raise ValueError(style)
        return MOBILE_STYLES[style](m)

    def fmt_landline(self, ll, ext, style):
        """landline ll = (area, local) as written in style (LANDLINE_STYLES),
        with its extension ext written one of the usual ways."""
        if style not in LANDLINE_STYLES:
            raise ValueError(style)
        s = LANDLINE_STYLES[style](*ll)
        if ext:
            s += self.rng.choice(["-%s", "转%s", " 转%s", " ext.%s", "-%s", "分机%s"]) % ext
        return s

    def typo_digits(self, s):
        """one digit replaced, or two neighbours swapped."""
        r = self.rng
        d = list(s)
        i = r.randrange(3, len(d) - 1)
        if r.random() < 0.5 and d[i] != d[i + 1]:
            d[i], d[i + 1] = d[i + 1], d[i]
        else:
            d[i] = r.choice([c for c in "0123456789" if c != d[i]])
        return "".join(d)

    def fmt_address(self, a, style):
        full_city = a["city"] if a["province"] == a["city"] else a["province"] + a["city"]
        tail = a["street"] + a["number"] + a["tower"] + a["unit"]
        if style == "full":
            return full_city + a["district"] + tail
        if style == "nounit":
            return full_city + a["district"] + a["street"] + a["number"]
        if style == "nocity":
            return a["district"] + tail
        if style == "cityonly":
            return a["city"]
        if style == "district":
            return a["city"] + a["district"]
        if style == "noprovince":
            return a["city"] + a["district"] + tail
        if style == "spaced":
            return " ".join([a["city"], a["district"], a["street"] + a["number"], a["tower"] + a["unit"]]).strip()
        if style == "nosuffix":
            # 广东深圳南山区…, 北京海淀区…
            c = a["city"].rstrip("市")
            p = a["province"].rstrip("省市")
            return (c if a["province"] == a["city"] else p + c) + a["district"] + tail
        if style == "fullwidth":
            return (full_city + a["district"] + tail).translate(FW)
        raise ValueError(style)

    def trad(self, s):
        return "".join(TRAD.get(c, c) for c in s)

    def homophone(self, name, p):
        r = self.rng
        idx = [i for i, c in enumerate(name) if c in HOMOPHONE and i >= len(p["surname"])]
        if not idx:
            return None
        i = r.choice(idx)
        return name[:i] + r.choice(HOMOPHONE[name[i]]) + name[i + 1:]

    def latin_name(self, p, style):
        s, g = self.latin(p)
        if style == "given_first":
            return "%s %s" % (g, s)
        if style == "upper_family_first":
            return "%s %s" % (s.upper(), g)
        if style == "family_first":
            return "%s %s" % (s, g)
        if style == "joined_lower":
            return (s + g).lower()
        if style == "english":
            return "%s %s" % (p["english"], s)
        if style == "english_cn":
            return "%s %s" % (p["english"], p["name"])
        raise ValueError(style)

    # -- the departments ----------------------------------------------------

    def when(self, p, t):
        """a timestamp at share t of 2019-01 .. 2026-11"""
        day = int(t * 2890)
        y, rem = 2019 + day // 365, day % 365
        return "%04d-%02d-%02d %02d:%02d:00+08" % (min(y, 2026), 1 + rem // 31 % 12, 1 + rem % 28, 8 + day % 11, day % 60)

    def mobile_at(self, p, t):
        if p["mobile_old"] and t < p["change_at"]:
            return p["mobile_old"], "old_mobile"
        return p["mobile"], None

    def company_at(self, p, t):
        if p["company_old"] is not None and t < p["change_at"]:
            return p["company_old"], "old_employer"
        return p["company"], None

    def company_text(self, c, style):
        r = self.rng
        if style == "full":
            return c["full"]
        if style == "short":
            return c["shorts"][0]
        if style == "brand":
            return c["shorts"][-1]
        if style == "english":
            return c["english"]
        if style == "trad":
            return self.trad(c["full"])
        if style == "space":
            return " " + c["full"] + " "
        raise ValueError(style)

    def pick(self, options):
        r = self.rng
        x = r.random()
        acc = 0.0
        for value, w in options:
            acc += w
            if x < acc:
                return value
        return options[-1][0]

    def crm_rows(self, p, out):
        r = self.rng
        n = 1 + (r.random() < 0.12) + (p["company_old"] is not None and r.random() < 0.5)
        for k in range(n):
            t = r.random()
            tags = []
            # the name as the rep wrote it
            ns = self.pick([("full", 0.82), ("honorific", 0.07), ("space", 0.03), ("english", 0.04), ("homophone", 0.02), ("latin", 0.02)])
            if p["uyghur"]:
                ns = self.pick([("full", 0.6), ("nodot", 0.3), ("space", 0.1)])
            name = self.render_name(p, ns, tags, honorifics=["总", "经理", "总监", "老师", "工"])
            mob, tag = self.mobile_at(p, t)
            if tag:
                tags.append(tag)
            phone = None
            ci, ctag = self.company_at(p, t)
            if ctag:
                tags.append(ctag)
            if mob and r.random() < 0.9:
                phone = self.fmt_mobile(mob, self.pick([("plain", 0.45), ("dash", 0.2), ("space", 0.2), ("plus86", 0.1), ("86dash", 0.05)]))
            elif ci is not None and r.random() < 0.7:
                c = self.companies[ci]
                phone = self.fmt_landline(c["board"], p["ext"] if r.random() < 0.5 else None, self.pick([("dash", 0.6), ("paren", 0.2), ("space", 0.2)]))
                tags.append("switchboard")
            email = None
            company = None
            if ci is not None:
                c = self.companies[ci]
                company = self.company_text(c, self.pick([("short", 0.5), ("brand", 0.2), ("full", 0.22), ("english", 0.03), ("space", 0.05)]))
                if p["work_email"] and r.random() < 0.7 and ci == p["company"]:
                    email = p["work_email"]
                elif ctag and r.random() < 0.5:
                    email = self.work_email(p, c)
            elif r.random() < 0.3:
                company = self.pick([("个人", 0.5), ("无", 0.3), ("暂无", 0.2)])
                tags.append("company_placeholder")
            if email is None and p["personal_email"] and r.random() < 0.25:
                email = p["personal_email"]
            if email and r.random() < 0.1:
                email = email[0].upper() + email[1:]
                tags.append("email_case")
            key = "L%07d" % (len(out) + 1)
            created = self.when(p, t)
            out.append(dict(lead_id=key, contact_name=name, mobile=phone, email=email, company_name=company,
                            job_title=r.choice(["总经理", "采购经理", "IT主管", "工程师", "财务", "行政", None]),
                            city=(self.companies[ci]["region"][1] if ci is not None else p["region"][1]) if r.random() < 0.7 else None,
                            owner_rep="rep%02d" % r.randrange(1, 40), created_at=created, updated_at=created,
                            _pid=p["pid"], _tags=tags))

    def render_name(self, p, style, tags, honorifics):
        r = self.rng
        if p["uyghur"]:
            a, b = p["uyghur"]
            if style == "nodot":
                tags.append("uyghur_nodot")
                return a + b
            if style == "space":
                tags.append("uyghur_space")
                return a + " " + b
            if style == "blank":
                tags.append("no_name")
                return None
            if style == "given_only":
                tags.append("uyghur_given_only")
                return a
            tags.append("uyghur")
            return p["name"].replace("·", r.choice(["·", "·", "•", "."]))
        if style == "full":
            return p["name"]
        if style == "honorific":
            tags.append("honorific")
            h = r.choice(honorifics if p["sex"] == "M" or r.random() < 0.5 else [x for x in honorifics if x not in ("先生",)] + ["女士"])
            if h == "先生" and p["sex"] == "F":
                h = "女士"
            if h == "女士" and p["sex"] == "M":
                h = "先生"
            return p["surname"] + h
        if style == "space":
            tags.append("name_space")
            return p["surname"] + " " + p["given"]
        if style == "homophone":
            h = self.homophone(p["name"], p)
            if h:
                tags.append("homophone")
                return h
            return p["name"]
        if style == "trad":
            t = self.trad(p["name"])
            if t != p["name"]:
                tags.append("traditional")
            return t
        if style == "english":
            if p["english"]:
                tags.append("english_name")
                return self.latin_name(p, r.choice(["english", "english", "english_cn"]))
            style = "latin"
        if style == "latin":
            st = r.choice(["given_first", "upper_family_first", "family_first", "joined_lower"])
            tags.append("latin_" + st)
            return self.latin_name(p, st)
        if style == "blank":
            tags.append("no_name")
            return None
        if style == "placeholder":
            tags.append("name_placeholder")
            return r.choice(["客户", "未知", "无", "先生", "女士", "匿名", "-"])
        raise ValueError(style)

    def fin_rows(self, p, out):
        r = self.rng
        n = r.choices([1, 2, 3, 4, 6], [0.45, 0.25, 0.15, 0.1, 0.05])[0]
        private = p["company"] is None or r.random() < 0.15
        old_system = r.random() < 0.15  # customers billed through the old system, exported in traditional characters
        for k in range(n):
            t = r.random()
            tags = []
            ci, ctag = (None, None) if private else self.company_at(p, t)
            if ctag:
                tags.append(ctag)
            ns = "trad" if old_system and t < 0.5 else self.pick([("full", 0.95), ("space", 0.02), ("homophone", 0.02), ("latin", 0.01)])
            if p["uyghur"]:
                ns = self.pick([("full", 0.7), ("nodot", 0.3)])
            name = self.render_name(p, ns, tags, honorifics=["总"])
            if private:
                company = self.pick([("个人", 0.75), (None, 0.2), ("个体", 0.05)])
                if company:
                    tags.append("company_placeholder")
            else:
                c = self.companies[ci]
                company = self.company_text(c, "trad" if ns == "trad" else self.pick([("full", 0.9), ("short", 0.05), ("space", 0.05)]))
            # phone finance calls: the switchboard as often as a mobile
            mob, mtag = self.mobile_at(p, t)
            if mob is None and p["shared_mobile"]:
                mob, mtag = p["shared_mobile"], "family_mobile"
            phone = None
            if not private and r.random() < 0.5:
                c = self.companies[ci]
                phone = self.fmt_landline(c["board"], p["ext"] if r.random() < 0.7 else None,
                                          self.pick([("dash", 0.55), ("paren", 0.25 if not old_system else 0.6), ("space", 0.1), ("plus86", 0.05), ("noarea", 0.05)]))
                tags.append("switchboard")
            elif mob:
                phone = self.fmt_mobile(mob, self.pick([("plain", 0.6), ("dash", 0.2), ("space", 0.1), ("plus86", 0.1)]))
                if mtag:
                    tags.append(mtag)
                if r.random() < 0.01:
                    phone = self.typo_digits(mob)
                    tags.append("mobile_typo")
            elif p["landline"]:
                phone = self.fmt_landline(p["landline"], None, "dash")
                tags.append("home_landline")
            # the ID number: private buyers, and a legal representative's contracts
            idno = None
            if (private and r.random() < 0.92) or (not private and r.random() < 0.08):
                idno = p["id"]
                x = r.random()
                if x < 0.035:
                    idno = self.typo_digits(idno[:17]) + idno[17]
                    tags.append("id_typo")
                elif x < 0.055 and p["birth"][0] < 1985:
                    idno = idno[:6] + idno[8:17]  # 15-digit card of before 1999
                    tags.append("id_15")
                elif x < 0.07:
                    idno = idno[:17]  # check character left off
                    tags.append("id_17")
                if idno.endswith("X") and r.random() < 0.5:
                    idno = idno[:-1] + "x"
                    tags.append("id_lower_x")
                if r.random() < 0.03:
                    idno = " " + idno
            elif private and r.random() < 0.5:
                idno = self.pick([("无", 0.6), ("/", 0.4)])
            # billing address
            if private:
                a = p["home"]
            else:
                a = self.companies[ci]["address"]
            addr = self.fmt_address(a, self.pick([("full", 0.6), ("noprovince", 0.15), ("spaced", 0.1), ("nosuffix", 0.1), ("nounit", 0.05)]))
            if ns == "trad":
                addr = self.trad(addr)
            key = "FP%d%06d" % (2019 + int(t * 7.9), len(out) + 1)
            out.append(dict(invoice_no=key, contact_name=name, buyer_company=company, contact_phone=phone,
                            id_no=idno, address=addr, amount="%.2f" % (r.randrange(100, 500000) / 1.0),
                            issued_on=self.when(p, t)[:10], _pid=p["pid"], _tags=tags))

    def cs_rows(self, p, out):
        r = self.rng
        n = r.choices([1, 2, 3, 5], [0.5, 0.25, 0.15, 0.1])[0]
        for k in range(n):
            t = r.random()
            tags = []
            ns = self.pick([("full", 0.52), ("honorific", 0.18), ("blank", 0.14), ("placeholder", 0.05), ("homophone", 0.07), ("latin", 0.02), ("space", 0.02)])
            if p["uyghur"]:
                ns = self.pick([("full", 0.4), ("nodot", 0.3), ("given_only", 0.15), ("blank", 0.15)])
            name = self.render_name(p, ns, tags, honorifics=["先生", "女士", "先生", "女士", "总"])
            mob, mtag = self.mobile_at(p, t)
            x = r.random()
            phone = None
            if p["landline"] and x < 0.3:
                phone = self.fmt_landline(p["landline"], None, self.pick([("dash", 0.5), ("noarea", 0.3), ("plus86", 0.2)]))
                tags.append("home_landline")
            elif p["shared_mobile"] and (mob is None or x < 0.6):
                phone = self.fmt_mobile(p["shared_mobile"], self.pick([("plain", 0.6), ("trunk0", 0.2), ("plus86tight", 0.2)]))
                tags.append("family_mobile")
            elif mob:
                phone = self.fmt_mobile(mob, self.pick([("plain", 0.55), ("trunk0", 0.15), ("plus86tight", 0.15), ("86", 0.1), ("0086", 0.05)]))
                if mtag:
                    tags.append(mtag)
            elif p["company"] is not None:
                c = self.companies[p["company"]]
                phone = self.fmt_landline(c["board"], None, "dash")
                tags.append("switchboard")
            email = None
            if r.random() < 0.12:
                email = p["personal_email"] or (self.qq_mail(p) if p["qq"] else None)
            addr = None
            if r.random() < 0.25:
                addr = self.fmt_address(p["home"], self.pick([("full", 0.3), ("nocity", 0.3), ("noprovince", 0.2), ("district", 0.1), ("fullwidth", 0.1)]))
            if not name and not email and not addr:
                tags.append("phone_only")
            out.append(dict(ticket_id=str(100000 + len(out)), caller_name=name, caller_phone=phone, email=email, address=addr,
                            category=r.choice(["安装", "退换货", "发票", "投诉", "咨询", "维修"]), opened_at=self.when(p, t),
                            _pid=p["pid"], _tags=tags))

    def qq_mail(self, p):
        return p["qq"] + "@qq.com"

    def mkt_rows(self, p, out):
        r = self.rng
        n = 1 + (r.random() < 0.15)
        for k in range(n):
            t = r.random()
            tags = []
            ns = self.pick([("full", 0.72), ("latin", 0.1), ("english", 0.04), ("space", 0.04), ("blank", 0.05), ("placeholder", 0.02), ("homophone", 0.01), ("trad", 0.02)])
            if p["uyghur"]:
                ns = self.pick([("full", 0.5), ("nodot", 0.3), ("space", 0.2)])
            name = self.render_name(p, ns, tags, honorifics=[])
            mob, mtag = self.mobile_at(p, t)
            phone = None
            x = r.random()
            if x < 0.015:
                phone = r.choice(["13800000000", "13888888888", "12345678901"])
                tags.append("fake_mobile")
            elif mob and x < 0.92:
                phone = self.fmt_mobile(mob, self.pick([("plain", 0.6), ("fullwidth", 0.1), ("fullwidth_space", 0.03), ("space", 0.12), ("plus86", 0.05), ("0086", 0.03), ("paren", 0.04), ("dash", 0.03)]))
                if mtag:
                    tags.append(mtag)
                if any(ord(ch) > 0xff00 for ch in phone):
                    tags.append("fullwidth_mobile")
                if r.random() < 0.012:
                    phone = self.typo_digits(mob)
                    tags.append("mobile_typo")
            elif p["shared_mobile"] and x < 0.95:
                phone = p["shared_mobile"]
                tags.append("family_mobile")
            # email: QQ and personal mailboxes, in any case
            email = None
            y = r.random()
            if y < 0.01:
                email = r.choice(["test@test.com", "123@qq.com", "a@a.com"])
                tags.append("fake_email")
            elif p["qq"] and y < 0.45:
                email = self.qq_mail(p)
            elif p["personal_email"] and y < 0.8:
                email = p["personal_email"]
            elif p["work_email"] and y < 0.9:
                email = p["work_email"]
            if email and r.random() < 0.08:
                email = email.upper() if r.random() < 0.3 else email[0].upper() + email[1:]
                tags.append("email_case")
            if email and r.random() < 0.03:
                email = " " + email + " "
            ci, ctag = self.company_at(p, t)
            company = None
            if ci is not None and r.random() < 0.7:
                company = self.company_text(self.companies[ci], self.pick([("short", 0.35), ("brand", 0.15), ("full", 0.35), ("english", 0.1), ("trad", 0.05)]))
                if ctag:
                    tags.append(ctag)
            elif r.random() < 0.15:
                company = r.choice(["个人", "无", "学生", "自由职业", "/", "暂无"])
                tags.append("company_placeholder")
            addr = None
            if r.random() < 0.4:
                addr = self.fmt_address(p["home"], self.pick([("cityonly", 0.25), ("district", 0.15), ("full", 0.3), ("nosuffix", 0.15), ("spaced", 0.15)]))
            out.append(dict(signup_id="M%06d" % (len(out) + 1), name=name, mobile=phone, email=email, company=company,
                            address=addr, channel=r.choice(["官网", "微信公众号", "展会", "直播", "线下沙龙", "抖音"]),
                            signed_up_at=self.when(p, t), _pid=p["pid"], _tags=tags))

    def run(self):
        r = self.rng
        self.make_companies()
        self.make_people()
        crm, fin, cs, mkt = [], [], [], []
        for p in self.persons:
            employed = p["company"] is not None
            got = False
            if r.random() < (0.55 if employed else 0.15):
                self.crm_rows(p, crm)
                got = True
            if r.random() < 0.33:
                self.fin_rows(p, fin)
                got = True
            if r.random() < 0.4:
                self.cs_rows(p, cs)
                got = True
            if r.random() < 0.42:
                self.mkt_rows(p, mkt)
                got = True
            if not got:
                dept = r.randrange(4)
                [self.crm_rows, self.fin_rows, self.cs_rows, self.mkt_rows][dept](p, [crm, fin, cs, mkt][dept])
        return crm, fin, cs, mkt


def write(path, rows, cols):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for row in rows:
            w.writerow(["" if row.get(c) is None else row[c] for c in cols])


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: identity_heldout.py PEOPLE OUTDIR [SEED]")
    people = int(sys.argv[1])
    outdir = sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20261207
    g = Gen(people, seed)
    crm, fin, cs, mkt = g.run()
    os.makedirs(outdir, exist_ok=True)
    write(os.path.join(outdir, "crm_lead.csv"), crm,
          ["lead_id", "contact_name", "mobile", "email", "company_name", "job_title", "city", "owner_rep", "created_at", "updated_at"])
    write(os.path.join(outdir, "fin_invoice.csv"), fin,
          ["invoice_no", "contact_name", "buyer_company", "contact_phone", "id_no", "address", "amount", "issued_on"])
    write(os.path.join(outdir, "cs_ticket.csv"), cs,
          ["ticket_id", "caller_name", "caller_phone", "email", "address", "category", "opened_at"])
    write(os.path.join(outdir, "mkt_signup.csv"), mkt,
          ["signup_id", "name", "mobile", "email", "company", "address", "channel", "signed_up_at"])
    truth = []
    for src, rows, key in (("crm", crm, "lead_id"), ("fin", fin, "invoice_no"), ("cs", cs, "ticket_id"), ("mkt", mkt, "signup_id")):
        for row in rows:
            truth.append(dict(source=src, key=row[key], person=row["_pid"], tags=" ".join(row["_tags"])))
    write(os.path.join(outdir, "truth.csv"), truth, ["source", "key", "person", "tags"])
    people_rows = [dict(person=p["pid"], household=p["household"], name=p["name"], mobile=p["mobile"],
                        company=(g.companies[p["company"]]["full"] if p["company"] is not None else None), id=p["id"])
                   for p in g.persons]
    write(os.path.join(outdir, "person.csv"), people_rows, ["person", "household", "name", "mobile", "company", "id"])
    print("identity_heldout: %d people, rows: crm %d, fin %d, cs %d, mkt %d, total %d"
          % (len(g.persons), len(crm), len(fin), len(cs), len(mkt), len(crm) + len(fin) + len(cs) + len(mkt)))


if __name__ == "__main__":
    main()
