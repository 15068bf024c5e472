"""A small table of real county-level divisions (GB/T 2260), current and historic.

Enough for coherent synthetic people and enterprises: an ID number's first six digits name
a county of registration; an address names a province, city and county. The table has a
few hundred rows, not the whole country. It includes codes that no longer exist (崇文区,
宣武区, 闸北区, 潮阳县...) because an ID keeps its code for life, names that changed
(襄樊 -> 襄阳, 海安县 -> 海安市) because departments keep writing the old name, and district
names shared by several cities (朝阳区 in Beijing and Changchun, 鼓楼区, 西湖区, 新城区...).
"""

from __future__ import annotations

from dataclasses import dataclass

_MUNICIPALITIES = {"11": "北京市", "12": "天津市", "31": "上海市", "50": "重庆市"}

_PROVINCES = {
    "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省", "22": "吉林省",
    "23": "黑龙江省", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省",
    "44": "广东省", "45": "广西壮族自治区", "46": "海南省", "51": "四川省", "52": "贵州省",
    "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省",
    "64": "宁夏回族自治区", "65": "新疆维吾尔自治区", **_MUNICIPALITIES,
}

#: city code (4 digits) -> city name, for provinces (municipalities have no city level).
_CITIES = {
    "1301": "石家庄市", "1302": "唐山市", "1303": "秦皇岛市", "1305": "邢台市", "1306": "保定市",
    "1401": "太原市", "1501": "呼和浩特市", "2101": "沈阳市", "2102": "大连市", "2201": "长春市",
    "2301": "哈尔滨市", "3201": "南京市", "3202": "无锡市", "3205": "苏州市", "3206": "南通市",
    "3301": "杭州市", "3302": "宁波市", "3303": "温州市", "3307": "金华市", "3401": "合肥市",
    "3501": "福州市", "3502": "厦门市", "3505": "泉州市", "3601": "南昌市", "3604": "九江市",
    "3701": "济南市", "3702": "青岛市", "4101": "郑州市", "4103": "洛阳市", "4201": "武汉市",
    "4206": "襄阳市", "4301": "长沙市", "4401": "广州市", "4403": "深圳市", "4405": "汕头市",
    "4406": "佛山市", "4501": "南宁市", "4601": "海口市", "5101": "成都市",
    "5201": "贵阳市", "5301": "昆明市", "5401": "拉萨市", "6101": "西安市", "6201": "兰州市",
    "6301": "西宁市", "6401": "银川市", "6501": "乌鲁木齐市", "6531": "喀什地区",
}

#: Former names of cities still written by departments: city code -> (old name, year).
CITY_RENAMES = {"4206": ("襄樊市", 2010)}

# code, county name. A trailing "!" marks a code that was abolished (IDs only).
_COUNTIES = """
110101 东城区|110102 西城区|110103 崇文区!|110104 宣武区!|110105 朝阳区|110106 丰台区
110107 石景山区|110108 海淀区|110109 门头沟区|110111 房山区|110112 通州区|110113 顺义区
110114 昌平区|110115 大兴区|110116 怀柔区|110117 平谷区|110118 密云区|110119 延庆区
120101 和平区|120102 河东区|120103 河西区|120104 南开区|120105 河北区|120106 红桥区
120110 东丽区|120111 西青区|120112 津南区|120113 北辰区|120116 滨海新区
310101 黄浦区|310103 卢湾区!|310104 徐汇区|310105 长宁区|310106 静安区|310107 普陀区
310108 闸北区!|310109 虹口区|310110 杨浦区|310112 闵行区|310113 宝山区|310114 嘉定区
310115 浦东新区|310116 金山区|310117 松江区|310118 青浦区|310120 奉贤区|310151 崇明区
500101 万州区|500103 渝中区|500104 大渡口区|500105 江北区|500106 沙坪坝区|500107 九龙坡区
500108 南岸区|500112 渝北区|500113 巴南区
130102 长安区|130104 桥西区|130105 新华区|130108 裕华区|130202 路南区|130203 路北区
130302 海港区|130503 桥西区!|130502 桥东区!|130602 竞秀区|130603 北市区!
140105 小店区|140106 迎泽区|140107 杏花岭区
150102 新城区|150103 回民区|150104 玉泉区|150105 赛罕区
210102 和平区|210103 沈河区|210104 大东区|210105 皇姑区|210106 铁西区
210202 中山区|210203 西岗区|210204 沙河口区|210211 甘井子区
220102 南关区|220103 宽城区|220104 朝阳区|220105 二道区|220106 绿园区
230102 道里区|230103 南岗区|230104 道外区
320102 玄武区|320104 秦淮区|320105 建邺区|320106 鼓楼区|320205 锡山区|320206 惠山区
320211 滨湖区|320505 虎丘区|320506 吴中区|320507 相城区|320508 姑苏区|320581 常熟市
320582 张家港市|320583 昆山市|320621 海安县!|320685 海安市
330102 上城区|330105 拱墅区|330106 西湖区|330108 滨江区|330109 萧山区|330110 余杭区
330203 海曙区|330206 北仑区|330212 鄞州区|330302 鹿城区|330782 义乌市
340102 瑶海区|340103 庐阳区|340104 蜀山区|340111 包河区
350102 鼓楼区|350103 台江区|350104 仓山区|350105 马尾区|350203 思明区|350206 湖里区
350582 晋江市
360102 东湖区|360103 西湖区|360426 德安县
370102 历下区|370103 市中区|370104 槐荫区|370105 天桥区|370202 市南区|370203 市北区
370211 黄岛区|370212 崂山区
410102 中原区|410103 二七区|410105 金水区|410302 老城区
420102 江岸区|420103 江汉区|420104 硚口区|420106 武昌区|420111 洪山区
420602 襄城区|420606 樊城区|420607 襄州区|420621 襄阳县!
430102 芙蓉区|430103 天心区|430104 岳麓区|430105 开福区
440103 荔湾区|440104 越秀区|440105 海珠区|440106 天河区|440111 白云区|440112 黄埔区
440113 番禺区|440303 罗湖区|440304 福田区|440305 南山区|440306 宝安区|440307 龙岗区
440513 潮阳区|440524 潮阳县!|440604 禅城区|440606 顺德区
450102 兴宁区|450103 青秀区|460105 秀英区|460106 龙华区
510104 锦江区|510105 青羊区|510106 金牛区|510107 武侯区|510108 成华区
520102 南明区|520103 云岩区|530102 五华区|530103 盘龙区|540102 城关区
610102 新城区|610103 碑林区|610104 莲湖区|610113 雁塔区|620102 城关区|620103 七里河区
630102 城东区|640104 兴庆区|650102 天山区|650103 沙依巴克区|650104 新市区|653101 喀什市
"""

#: Former names of current counties that departments still write: code -> (old name, year).
COUNTY_RENAMES = {
    "320685": ("海安县", 2018), "420607": ("襄阳县", 2010), "440513": ("潮阳市", 2003),
    "130602": ("新市区", 2015), "320508": ("沧浪区", 2012), "110118": ("密云县", 2015),
    "110119": ("延庆县", 2015), "310151": ("崇明县", 2016), "330110": ("余杭市", 2001),
    "330109": ("萧山市", 2001), "120116": ("塘沽区", 2009), "350582": ("晋江县", 1992),
    "320583": ("昆山县", 1989), "440606": ("顺德市", 2003), "440113": ("番禺市", 2000),
    "370211": ("胶南市", 2012), "500112": ("江北县", 1994), "110115": ("大兴县", 2001),
}

#: Special ID divisions: Hong Kong, Macau and Taiwan residence permits.
HMT_CODES = ("810000", "820000", "830000")


@dataclass(frozen=True)
class County:
    """One county-level division."""

    code: str
    province: str
    city: str  # "" for the districts of a municipality
    name: str
    current: bool

    @property
    def province_code(self) -> str:
        return self.code[:2]


def _parse() -> tuple[County, ...]:
    rows: list[County] = []
    for item in _COUNTIES.replace("\n", "|").split("|"):
        item = item.strip()
        if not item:
            continue
        code, name = item.split(" ")
        current = not name.endswith("!")
        name = name.rstrip("!")
        province = _PROVINCES[code[:2]]
        city = "" if code[:2] in _MUNICIPALITIES else _CITIES[code[:4]]
        rows.append(County(code=code, province=province, city=city, name=name, current=current))
    return tuple(sorted(rows, key=lambda c: c.code))


COUNTIES: tuple[County, ...] = _parse()
CURRENT_COUNTIES: tuple[County, ...] = tuple(c for c in COUNTIES if c.current)
XINJIANG_COUNTIES: tuple[County, ...] = tuple(c for c in CURRENT_COUNTIES if c.code[:2] == "65")


def former_names(county: County) -> tuple[str, str] | None:
    """The (city, county) names a stale department writes for ``county``, or None when
    neither its city nor the county itself was renamed."""
    old_city = CITY_RENAMES.get(county.code[:4])
    old_county = COUNTY_RENAMES.get(county.code)
    if old_city is None and old_county is None:
        return None
    return (old_city[0] if old_city else county.city, old_county[0] if old_county else county.name)
